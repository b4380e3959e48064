/**
 * The one progress display of the commands, on stderr. On a terminal a bar drawn by cli-progress,
 * rewritten in place, with lines that stay printed above it; elsewhere (a pipe, a log file, the
 * tests) only the lines, plain, one per event, and no bar at all.
 *
 *   const progress = new ProgressDisplay();
 *   progress.update(`update 10  loss 3.2`, 0.1);   // the bar: a fraction done (null: text only)
 *   progress.line('validation at update 10: ...'); // a line that stays
 *   progress.done();                               // the bar's last state stays on screen
 */
import cliProgress from 'cli-progress';

/** Bar width in characters: `[####................]`. */
const BAR_SIZE = 20;

export class ProgressDisplay {
  /** Whether a bar is drawn: stderr is a terminal. */
  readonly tty: boolean;
  private bar: cliProgress.SingleBar | undefined;

  constructor(private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.tty = Boolean(stream.isTTY);
  }

  /**
   * The bar's state: `fraction` done in [0, 1] (null: the text alone) and the text beside it. A
   * terminal only; elsewhere `orLine` prints the text as a line instead (nothing without it).
   */
  update(text: string, fraction: number | null, opts: {orLine?: boolean} = {}): void {
    if (!this.tty) {
      if (opts.orLine) this.line(text);
      return;
    }
    const payload = {text, fraction};
    if (this.bar) {
      this.bar.update(fraction ?? 0, payload);
      return;
    }
    this.bar = new cliProgress.SingleBar({
      stream: this.stream,
      format: (options, params, p: {text: string; fraction: number | null}) =>
        p.fraction === null ? p.text : `[${cliProgress.Format.BarFormat(params.progress, options)}] ${p.text}`,
      barsize: BAR_SIZE,
      barCompleteChar: '#',
      barIncompleteChar: '.',
      hideCursor: false,
      gracefulExit: false, // the commands handle Ctrl-C themselves (train writes a checkpoint first)
    });
    this.bar.start(1, fraction ?? 0, payload);
  }

  /** A line that stays: after the bar's line, which stays as it was drawn. */
  line(text: string): void {
    this.done();
    this.stream.write(text + '\n');
  }

  /** End the bar, if one is drawn: its last state stays on screen, and the next output starts a new line. */
  done(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** A duration for an ETA: "45s", "12m05s", "2h03m"; "?" when unknown. */
export function formatDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '?';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}
