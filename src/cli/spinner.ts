/**
 * A status line on stderr while something slow runs (loading a model, the prompt pass): shown only
 * when stderr is a terminal and only once the work has taken about a second; never on stdout.
 *
 * Loading a model and a prompt pass are long synchronous blocks, during which no timer of ours can
 * fire, so the frames are drawn by a worker thread writing straight to the stream's file
 * descriptor. The two threads share one state word; stop() returns once the line is cleared, so
 * nothing the command writes next can land on the spinner's line.
 *
 * Why not ora (the design's choice for waits): ora draws its frames from setInterval on the main
 * thread, and measured during a synchronous block it draws none at all, only its first frame before
 * the block and the next after it; this spinner keeps drawing through the block.
 */
import {Worker} from 'node:worker_threads';

/** A stream the spinner may draw on: a terminal with a file descriptor. */
export interface StatusStream {
  isTTY?: boolean;
  fd?: number;
}

export interface Spinner {
  stop(): void;
}

export interface SpinnerOptions {
  stream?: StatusStream;
  /** Nothing is shown for work shorter than this. */
  delayMs?: number;
  frameMs?: number;
}

// The shared state word.
const WAITING = 0; // nothing on the screen yet
const STOP = 1; // stop() was called
const DONE = 2; // the worker has finished and its line, if any, is cleared
const SHOWING = 3; // a frame is on the screen

const WORKER = `
const {workerData: {fd, label, delayMs, frameMs, state}} = require('node:worker_threads');
const {writeSync} = require('node:fs');
const frames = '|/-\\\\';
try {
  if (Atomics.wait(state, 0, ${WAITING}, delayMs) === 'timed-out' && Atomics.compareExchange(state, 0, ${WAITING}, ${SHOWING}) === ${WAITING}) {
    for (let i = 0; Atomics.load(state, 0) === ${SHOWING}; i++) {
      writeSync(fd, '\\r' + frames[i % frames.length] + ' ' + label);
      Atomics.wait(state, 0, ${SHOWING}, frameMs);
    }
    writeSync(fd, '\\r\\x1b[K');
  }
} catch {
  // the terminal went away: nothing more to draw
} finally {
  Atomics.store(state, 0, ${DONE});
  Atomics.notify(state, 0);
}
`;

const NO_SPINNER: Spinner = {stop() {}};

/** Start a spinner labelled `label` (e.g. "loading the model"); call stop() when the work is done. */
export function spinner(
  label: string,
  {stream = process.stderr, delayMs = 1000, frameMs = 100}: SpinnerOptions = {},
): Spinner {
  if (!stream.isTTY || typeof stream.fd !== 'number') return NO_SPINNER;
  const state = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(WORKER, {eval: true, workerData: {fd: stream.fd, label, delayMs, frameMs, state}});
  worker.unref();
  let stopped = false;
  return {
    stop() {
      if (stopped) return;
      stopped = true;
      const was = Atomics.exchange(state, 0, STOP);
      Atomics.notify(state, 0);
      if (was === SHOWING) Atomics.wait(state, 0, STOP, 1000); // until the worker has cleared its line
      void worker.terminate();
    },
  };
}

/** Run `work` with a spinner labelled `label`; it stops when the work returns, throws or settles. */
export function withSpinner<T>(label: string, work: () => T, options?: SpinnerOptions): T {
  const s = spinner(label, options);
  let result: T;
  try {
    result = work();
  } catch (e) {
    s.stop();
    throw e;
  }
  if (result instanceof Promise) return result.finally(() => s.stop()) as T;
  s.stop();
  return result;
}
