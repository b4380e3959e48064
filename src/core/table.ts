/**
 * The one text-table renderer of the project: terminal tables (padded columns), Markdown tables for report files,
 * and lm-eval-harness's grid of pipes. Rows are arrays of cells already formatted as strings.
 */

/** Column alignment: left, right, centre. */
export type Align = 'l' | 'r' | 'c';

export interface TableOptions {
  /** Header row (required for 'markdown'); without it only the rows are printed. */
  head?: string[];
  /** Per column; the default is the first column left and the rest right. */
  align?: Align[];
  /**
   * 'text' (default): columns padded to their widest cell and joined by `gap`; a left-aligned last column is not
   * padded. 'markdown': GitHub pipes, cells unpadded with `|` escaped, alignment in the separator row.
   * 'grid': pipes with padded cells and no margins, header centred, separator of dashes (lm-eval-harness style).
   */
  style?: 'text' | 'markdown' | 'grid';
  /** 'text': put before each line. */
  indent?: string;
  /** 'text': between columns; default two spaces. */
  gap?: string;
  /** 'text': drop trailing spaces of each line. */
  trimEnd?: boolean;
  /** 'text' and 'grid': the least width of each column. */
  minWidth?: number[];
  /** Display width of a cell; default its length. */
  measure?: (s: string) => number;
}

function pad(s: string, width: number, align: Align, measure: (s: string) => number): string {
  const room = Math.max(0, width - measure(s));
  if (align === 'l') return s + ' '.repeat(room);
  if (align === 'r') return ' '.repeat(room) + s;
  const left = Math.floor(room / 2);
  return ' '.repeat(left) + s + ' '.repeat(room - left);
}

const markdownCell = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The table as lines (no trailing newline). */
export function tableLines(rows: string[][], opts: TableOptions = {}): string[] {
  const {
    head,
    style = 'text',
    indent = '',
    gap = '  ',
    trimEnd = false,
    minWidth = [],
    measure = (s: string) => s.length,
  } = opts;
  const all = head ? [head, ...rows] : rows;
  const columns = Math.max(0, ...all.map((r) => r.length));
  const align = Array.from({length: columns}, (_, i) => opts.align?.[i] ?? (i === 0 ? 'l' : 'r'));
  const at = (r: string[], i: number): string => r[i] ?? '';

  if (style === 'markdown') {
    if (!head) throw new Error('a Markdown table needs a head');
    const line = (r: string[]) => `| ${r.map(markdownCell).join(' | ')} |`;
    const rule = align.map((a) => (a === 'r' ? '---:' : a === 'c' ? ':---:' : ':---'));
    return [line(head), `|${rule.join('|')}|`, ...rows.map(line)];
  }

  const width = Array.from({length: columns}, (_, i) =>
    Math.max(minWidth[i] ?? 0, ...all.map((r) => measure(at(r, i)))),
  );
  if (style === 'grid') {
    const line = (r: string[], aligns: Align[]) =>
      `|${aligns.map((a, i) => pad(at(r, i), width[i], a, measure)).join('|')}|`;
    const rule = width.map((w, i) => (align[i] === 'r' ? '-'.repeat(Math.max(0, w - 1)) + ':' : '-'.repeat(w)));
    return [
      ...(head
        ? [
            line(
              head,
              align.map(() => 'c'),
            ),
            `|${rule.join('|')}|`,
          ]
        : []),
      ...rows.map((r) => line(r, align)),
    ];
  }

  const line = (r: string[]) => {
    const cells = align.map((a, i) =>
      i === columns - 1 && a === 'l' ? at(r, i) : pad(at(r, i), width[i], a, measure),
    );
    const s = indent + cells.join(gap);
    return trimEnd ? s.trimEnd() : s;
  };
  return all.map(line);
}

/** The table as one string (lines joined by newlines, no trailing newline). */
export function table(rows: string[][], opts: TableOptions = {}): string {
  return tableLines(rows, opts).join('\n');
}
