import {Command, Flags} from '@oclif/core';

import {BACKENDS, type BackendName, initBackend} from '../core/backend.js';
import {PldrError} from '../core/errors.js';

/**
 * What every pldr command shares: the --backend flag (or PLDR_BACKEND) and the rule that a
 * PldrError becomes one line on stderr and exit code 1, never a stack trace.
 */
export abstract class PldrCommand extends Command {
  static override baseFlags = {
    backend: Flags.string({
      description: 'tensor backend: wasm (default, fast on CPU), cpu (pure JS), tensorflow or tensorflow-gpu (opt-in installs)',
      env: 'PLDR_BACKEND',
      options: [...BACKENDS],
      default: 'wasm',
      helpGroup: 'GLOBAL',
    }),
  };

  /** Initialise the tensor backend named by --backend / PLDR_BACKEND. */
  protected async useBackend(name: string | undefined): Promise<void> {
    await initBackend((name ?? 'wasm') as BackendName);
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    if (err instanceof PldrError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = 1;
      return;
    }
    // oclif's own usage errors (unknown flag, value not among the options, missing argument):
    // one line as well, pointing at --help.
    if (err.oclif?.exit === 2) {
      const msg = err.message
        .split('\n')
        .map((l) => l.trim().replace(/^Error:\s*/, ''))
        .filter((l) => l && !/^(See more help|The following errors? occurred)/.test(l))
        .join('; ');
      process.stderr.write(`error: ${msg} (see --help)\n`);
      process.exitCode = 2;
      return;
    }
    // Running out of memory in the tensor backend is the user's problem, not a bug.
    if (/out of memory|Cannot allocate Wasm memory/i.test(err.message)) {
      process.stderr.write(`error: the tensor backend ran out of memory (${err.message.split('\n')[0]})\n`);
      process.exitCode = 1;
      return;
    }
    return super.catch(err);
  }
}
