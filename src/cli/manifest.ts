/**
 * oclif.manifest.json: every command's id, flags, arguments and help, written at build time so that
 * oclif need not import every command (and with them tfjs) to start: `pldr --version`, `pldr --help`
 * and `pldr info` then load nothing they do not use. oclif reads the manifest when there is one; a
 * manifest older than the built commands (dist/ rebuilt by tsc alone) is ignored, so it can be
 * stale on disk but never in what pldr shows.
 */
import {readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';

import {type Interfaces, Plugin} from '@oclif/core';

export const MANIFEST = 'oclif.manifest.json';

/**
 * The package's plugin read from the built commands themselves, not from any manifest on disk. With
 * `strict`, a command that fails to load is an error; otherwise oclif warns and leaves it out.
 */
export async function pluginFromCommands(root: string, strict = true): Promise<Plugin> {
  const plugin = new Plugin({root, isRoot: true, ignoreManifest: true, errorOnManifestCreate: strict});
  await plugin.load();
  return plugin;
}

export async function writeManifest(root: string): Promise<string> {
  const path = join(root, MANIFEST);
  writeFileSync(path, JSON.stringify((await pluginFromCommands(root)).manifest, null, 2) + '\n');
  return path;
}

/** Where the manifest on disk differs from the built commands: one line per difference, none when in sync. */
export async function manifestDifferences(root: string): Promise<string[]> {
  let onDisk: Interfaces.Manifest;
  try {
    onDisk = JSON.parse(readFileSync(join(root, MANIFEST), 'utf8'));
  } catch {
    return [`${MANIFEST} is missing or unreadable`];
  }
  const built = JSON.parse(JSON.stringify((await pluginFromCommands(root)).manifest)) as Interfaces.Manifest;
  const ids = new Set([...Object.keys(onDisk.commands), ...Object.keys(built.commands)]);
  const out: string[] = [];
  for (const id of [...ids].sort()) {
    const a = onDisk.commands[id];
    const b = built.commands[id];
    if (!a || !b) out.push(`command ${id}: ${a ? 'no longer built' : 'not in the manifest'}`);
    else if (JSON.stringify(a) !== JSON.stringify(b)) {
      const flags = [...new Set([...Object.keys(a.flags), ...Object.keys(b.flags)])].filter(
        (f) => JSON.stringify(a.flags[f]) !== JSON.stringify(b.flags[f]),
      );
      out.push(
        `command ${id}: ${flags.length ? `flags ${flags.map((f) => `--${f}`).join(', ')} differ` : 'help or arguments differ'}`,
      );
    }
  }
  if (onDisk.version !== built.version) out.push(`version ${onDisk.version} vs ${built.version}`);
  return out;
}

/** Whether the manifest is at least as new as every built command and the base they share (a cheap check at every start). */
export function manifestIsCurrent(root: string): boolean {
  let written: number;
  try {
    written = statSync(join(root, MANIFEST)).mtimeMs;
  } catch {
    return true; // no manifest: oclif reads the commands themselves
  }
  return ['commands', 'cli'].every((sub) =>
    readdirSync(join(root, 'dist', sub), {recursive: true, encoding: 'utf8'}).every(
      (f) => !f.endsWith('.js') || statSync(join(root, 'dist', sub, f)).mtimeMs <= written,
    ),
  );
}

/** What bin/run.js gives oclif: the package root, or with a stale manifest, the plugin read from the commands. */
export async function loadOptions(root: string): Promise<string | Interfaces.LoadOptions> {
  if (manifestIsCurrent(root)) return root;
  const plugin = await pluginFromCommands(root, false);
  return {root, plugins: new Map([[plugin.name, plugin]])};
}
