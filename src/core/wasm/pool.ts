/**
 * A pool of threads for our wasm kernels. With --threads N > 1, tfjs's multi-threaded
 * build keeps its heap in a shared WebAssembly.Memory: N − 1 worker threads instantiate gemv.wat on
 * that same memory. A pooled job is a list of kernel calls (wasm exports taking nine i32
 * arguments), cut into one contiguous run of calls per thread, the calling thread taking the
 * first. Callers make each call compute whole outputs — whole matrices of a batch, whole weight
 * matrices — so every output is summed by one thread in the order one thread sums it: the results
 * are bit for bit those of one thread. Each call also reads its own contiguous memory: on this
 * machine two threads streaming column halves of one matrix (every row cut in two) ran at half the
 * bandwidth of one thread streaming all of it, whereas whole matrices ran at twice.
 *
 * Dispatch is synchronous, through a control block in a SharedArrayBuffer (Int32 slots below):
 * the caller writes the calls and each thread's run, sets PENDING to the workers' count, bumps GEN,
 * makes its own calls, then spins until PENDING is 0 — for the job's `spinUs` at most, then it
 * sleeps in Atomics.wait on PENDING (spinning on, with more threads than cores, would take a core
 * from the very worker it waits for); the worker that brings PENDING to 0 notifies. A worker spins
 * on GEN for `spinUs` after finishing a job (waking one from Atomics.wait is slow next to a job),
 * then sleeps; the caller only notifies when one sleeps. Workers are unref()ed: they never keep the
 * process alive. Their code is CommonJS, run without the process's flags (`--input-type=module`
 * would make it a module).
 */
import {Worker} from 'node:worker_threads';

/** The kernels a call can run: wasm exports of gemv.wat taking nine i32 arguments. */
export const POOL_OPS = ['gemvCols', 'bmm'] as const;
export type PoolOp = (typeof POOL_OPS)[number];
/** One kernel call: its op and nine arguments. */
export type PoolCall = [PoolOp, number, number, number, number, number, number, number, number, number];
type Kernel = (...args: number[]) => void;

const [GEN, PENDING, SLEEPING, FAILED, SPIN_US] = [0, 1, 2, 3, 4];
const RUNS = 5; // then where each thread's run of calls starts (threads + 1 slots), then the calls
const CALL = 10; // slots per call: op index and nine arguments
/** The most calls one job holds. */
export const POOL_MAX_CALLS = 64;

const WORKER = `
const {parentPort, workerData: {control, memory, module, index, calls}} = require('node:worker_threads');
const c = new Int32Array(control);
const kernels = new WebAssembly.Instance(module, {env: {memory}}).exports;
const ops = ${JSON.stringify(POOL_OPS)}.map((name) => kernels[name]);
let seen = Atomics.load(c, ${GEN});
parentPort.postMessage('ready');
for (;;) {
  let since = performance.now();
  for (let spins = 1; Atomics.load(c, ${GEN}) === seen; spins++)
    if ((spins & 255) === 0 && (performance.now() - since) * 1000 > c[${SPIN_US}]) {
      Atomics.add(c, ${SLEEPING}, 1);
      Atomics.wait(c, ${GEN}, seen);
      Atomics.sub(c, ${SLEEPING}, 1);
      since = performance.now();
    }
  seen = Atomics.load(c, ${GEN});
  try {
    for (let i = c[${RUNS} + index], end = c[${RUNS} + index + 1]; i < end; i++) {
      const a = calls + ${CALL} * i;
      ops[c[a]](c[a + 1], c[a + 2], c[a + 3], c[a + 4], c[a + 5], c[a + 6], c[a + 7], c[a + 8], c[a + 9]);
    }
  } catch {
    Atomics.store(c, ${FAILED}, 1);
  }
  if (Atomics.sub(c, ${PENDING}, 1) === 1) Atomics.notify(c, ${PENDING});
}
`;

export class KernelPool {
  /** The threads a job runs on: 1 until every worker has started. */
  threads = 1;
  /** Settles once every worker has started (to the threads a job runs on) or one has failed (to 1). */
  readonly ready: Promise<number>;
  private readonly control: Int32Array;
  private readonly calls: number; // the first call's slot
  private readonly ops: Kernel[];

  /** `exports`: the calling thread's instance of `module`; `workers` more threads instantiate it on `memory` (shared). */
  constructor(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    exports: Record<PoolOp, Kernel>,
    workers: number,
  ) {
    this.calls = RUNS + workers + 2;
    this.control = new Int32Array(new SharedArrayBuffer(4 * (this.calls + CALL * POOL_MAX_CALLS)));
    this.ops = POOL_OPS.map((name) => exports[name]);
    let started = 0;
    this.ready = new Promise((resolve) => {
      if (workers < 1) return resolve(1);
      const fail = () => {
        this.threads = 1; // the caller makes every call, as without the pool
        resolve(1);
      };
      for (let index = 1; index <= workers; index++) {
        let worker: Worker;
        try {
          worker = new Worker(WORKER, {
            eval: true,
            execArgv: [],
            workerData: {control: this.control.buffer, memory, module, index, calls: this.calls},
          });
        } catch {
          fail();
          return;
        }
        worker.unref();
        worker.once('error', fail);
        worker.once('message', () => {
          if (++started === workers) {
            this.threads = workers + 1;
            resolve(this.threads);
          }
        });
      }
    });
  }

  /**
   * Make `calls`: on the calling thread alone when `work` (each call's size, in any unit) sums to
   * less than `minWork`, else cut into one contiguous run per thread of about equal work. The caller
   * spins `spinUs` µs for the workers before it sleeps; idle workers spin as long for the next job.
   */
  run(calls: PoolCall[], work: number[], minWork: number, spinUs: number): void {
    const T = Math.min(this.threads, calls.length);
    const total = work.reduce((a, b) => a + b, 0);
    if (T === 1 || total < minWork || calls.length > POOL_MAX_CALLS) {
      for (const call of calls) this.make(call);
      return;
    }
    const c = this.control;
    // thread t makes calls starts[t]…starts[t + 1]: a run ends once the work up to it reaches (t + 1)/T of the total
    const starts = [0];
    for (let i = 0, done = 0; i < calls.length; i++) {
      done += work[i]!;
      while (starts.length < T && done >= (total * starts.length) / T) starts.push(i + 1);
    }
    while (starts.length <= this.threads) starts.push(calls.length);
    c.set(starts, RUNS);
    calls.forEach(([op, ...args], i) => {
      c[this.calls + CALL * i] = POOL_OPS.indexOf(op);
      c.set(args, this.calls + CALL * i + 1);
    });
    c[SPIN_US] = spinUs;
    Atomics.store(c, PENDING, this.threads - 1);
    Atomics.add(c, GEN, 1);
    if (Atomics.load(c, SLEEPING) > 0) Atomics.notify(c, GEN);
    for (let i = 0; i < starts[1]!; i++) this.make(calls[i]!);
    // the workers make their calls: spin briefly, then sleep until the last one notifies
    const since = performance.now();
    for (let spins = 1, left; (left = Atomics.load(c, PENDING)) !== 0; spins++)
      if ((spins & 255) === 0 && (performance.now() - since) * 1000 > spinUs) Atomics.wait(c, PENDING, left);
    if (Atomics.load(c, FAILED)) throw new Error('a thread of the kernel pool failed');
  }

  private make([op, ...args]: PoolCall): void {
    this.ops[POOL_OPS.indexOf(op)]!(...args);
  }
}
