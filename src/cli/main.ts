/**
 * What bin/run.js runs: oclif, started from the manifest when it is current; closed output pipes
 * and a vanished terminal do not stop the work; the errors oclif raises before any command runs
 * (an unknown command) are reported as every command reports its own: one `error:` line, or a
 * JSON object with --json.
 */
import {handle, run} from '@oclif/core';

import {failureLine, failureOf, wantsJson} from './errors.js';
import {loadOptions} from './manifest.js';
import {keepGoingWhenOutputCloses, keepGoingWhenTerminalCloses} from './streams.js';

export async function main(root: string, argv: string[] = process.argv.slice(2)): Promise<void> {
  keepGoingWhenOutputCloses();
  keepGoingWhenTerminalCloses();
  try {
    // (no flush of stdout to wait for: with stdout closed it would never drain; Node writes what
    // is pending before it exits)
    await run(argv, await loadOptions(root));
  } catch (err) {
    const failure = failureOf(err as Error);
    if (!failure) return handle(err as Error);
    process.stderr.write(failureLine(failure, wantsJson(argv)));
    process.exitCode = failure.exit;
  }
}
