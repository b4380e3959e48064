/**
 * A closed stdout or stderr (`pldr train | head -3`, a terminal that went away) must not stop the
 * work: without a listener, the stream's EPIPE (or EIO) error is thrown, Node then fails to report it on the
 * closed stderr and exits 7, losing whatever was running (a training run's checkpoint). Once a
 * stream is closed, writes to it are dropped and the command goes on to its normal end.
 */
// EPIPE: the reader of a pipe went away; EIO: the terminal did (a hung-up tty).
const CLOSED = new Set(['EPIPE', 'ECONNRESET', 'EIO', 'ERR_STREAM_DESTROYED']);

export function keepGoingWhenOutputCloses(streams: NodeJS.WritableStream[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== undefined && CLOSED.has(err.code)) return; // the stream is destroyed: later writes are no-ops
      throw err;
    });
  }
}

/**
 * A terminal that goes away (its window closed, an ssh session dropped) sends SIGHUP, which by
 * default ends the process at once: a training run would stop without its checkpoint. pldr keeps
 * going instead; what it writes to the vanished terminal is dropped (EIO above) and the command
 * ends normally. Ctrl-C (SIGINT) and SIGTERM still stop it.
 */
export function keepGoingWhenTerminalCloses(): void {
  process.on('SIGHUP', () => {});
}
