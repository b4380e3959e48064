/**
 * An error meant for the person at the terminal: its message is one line that names the problem
 * and, where there is one, the fix. Commands print `error: <message>` and exit non-zero; anything
 * that is not a PldrError is a bug and keeps its stack trace.
 */
export class PldrError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PldrError';
  }
}

/** A message squeezed onto one line (whitespace runs become one space), for quoting inside a PldrError. */
export function oneLine(s: string): string {
  return s.replace(/\s+/g, ' ').trim();
}
