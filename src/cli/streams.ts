/**
 * A closed stdout or stderr (`pldr train | head -3`, a terminal that went away) must not stop the
 * work: without a listener, the stream's EPIPE error is thrown, Node then fails to report it on the
 * closed stderr and exits 7, losing whatever was running (a training run's checkpoint). Once a
 * stream is closed, writes to it are dropped and the command goes on to its normal end.
 */
const CLOSED = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED']);

export function keepGoingWhenOutputCloses(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== undefined && CLOSED.has(err.code)) return; // the stream is destroyed: later writes are no-ops
      throw err;
    });
  }
}
