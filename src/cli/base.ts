import {Command, Flags} from '@oclif/core';

import {BACKENDS, type BackendName} from '../core/backend-names.js';
import {parseThreads, type ThreadsWork} from '../core/threads.js';
import {failureLine, failureOf, wantsJson} from './errors.js';

/**
 * What every pldr command shares: the --backend flag (or PLDR_BACKEND) and the rule that a
 * PldrError becomes one line on stderr and exit code 1 (a usage error: 2), never a stack trace.
 */
export abstract class PldrCommand extends Command {
  static override baseFlags = {
    backend: Flags.string({
      description:
        'tensor backend: wasm (default, fast on CPU), cpu (pure JS), tensorflow or tensorflow-gpu (opt-in installs)',
      env: 'PLDR_BACKEND',
      options: [...BACKENDS],
      default: 'wasm',
      helpGroup: 'GLOBAL',
    }),
    threads: Flags.string({
      description:
        "threads for the wasm backend's matrix products; default: every core for train, eval, classify, export-g and bench train|eval, 1 for generate and bench paper|scaling|micro (a cached decode step is no faster on more)",
      env: 'PLDR_THREADS',
      helpGroup: 'GLOBAL',
    }),
  };

  /**
   * Initialise the tensor backend named by --backend / PLDR_BACKEND with --threads / PLDR_THREADS. tfjs is loaded here, not when
   * the command is: a command that computes nothing (--help, info) starts without it.
   */
  protected async useBackend(
    name: string | undefined,
    threadsFlag?: string,
    work: ThreadsWork = 'decode',
  ): Promise<void> {
    const threads = parseThreads(threadsFlag, '--threads', work); // oclif fills the flag from PLDR_THREADS
    const {initBackend, ThreadedStartError} = await import('../core/backend.js');
    try {
      await initBackend((name ?? 'wasm') as BackendName, threads);
    } catch (err) {
      // Threads the user did not ask for are not worth failing over: one thread gives the same results, only slower.
      if (!(err instanceof ThreadedStartError) || (threadsFlag ?? '') !== '') throw err;
      process.stderr.write(
        `note: the wasm backend could not start ${err.threads} threads (${err.reason}); running on one thread\n`,
      );
      await initBackend((name ?? 'wasm') as BackendName, 1);
    }
  }

  protected override async catch(err: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<unknown> {
    const failure = failureOf(err);
    if (!failure) return super.catch(err);
    this.fail(failure.message, failure.exit);
  }

  /** Report a failure as one line on stderr (a JSON object with --json) and set the exit code. */
  protected fail(message: string, exit = 1): void {
    process.stderr.write(failureLine({message, exit}, wantsJson(this.argv)));
    process.exitCode = exit;
  }
}
