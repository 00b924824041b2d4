import { lineText, type Line, type Segment } from './lines.ts';

/** A search: where it applies, what is searched, and whether it is still being typed. */
export interface SearchState {
  readonly place: string;
  readonly query: string;
  readonly editing: boolean;
  /** The line of the match n/N moved to last. */
  readonly at: number | null;
}

/**
 * Searching what a place shows (/): which lines match (case-insensitive), the next match either way, and the
 * matches highlighted. Pure, so tested without a terminal.
 */
export function matchingLines(lines: readonly Line[], query: string): number[] {
  const q = query.toLowerCase();
  if (q === '') return [];
  const out: number[] = [];
  lines.forEach((l, i) => {
    if (lineText(l).toLowerCase().includes(q)) out.push(i);
  });
  return out;
}

/** The next match after `from` (or before it, direction -1), wrapping around; undefined when nothing matches. */
export function nextMatch(matches: readonly number[], from: number, direction: 1 | -1): number | undefined {
  if (matches.length === 0) return undefined;
  if (direction === 1) return matches.find((m) => m > from) ?? matches[0];
  return [...matches].reverse().find((m) => m < from) ?? matches[matches.length - 1];
}

/** The line with each occurrence of `query` shown in yellow inverse (the rest keeps its style). */
export function highlight(line: Line, query: string): Line {
  const q = query.toLowerCase();
  if (q === '' || !lineText(line).toLowerCase().includes(q)) return line;
  // Matches may span segments: mark matched character positions over the whole line, then re-split.
  const text = lineText(line);
  const lower = text.toLowerCase();
  const marked = new Array<boolean>(text.length).fill(false);
  for (let at = lower.indexOf(q); at >= 0; at = lower.indexOf(q, at + q.length))
    for (let i = at; i < at + q.length; i++) marked[i] = true;
  const out: Segment[] = [];
  let pos = 0;
  for (const s of line) {
    let from = 0;
    for (let i = 1; i <= s.text.length; i++) {
      if (i === s.text.length || marked[pos + i] !== marked[pos + from]) {
        const part = s.text.slice(from, i);
        out.push(
          marked[pos + from] === true ? { ...s, text: part, inverse: true, color: 'yellow' } : { ...s, text: part },
        );
        from = i;
      }
    }
    pos += s.text.length;
  }
  return out;
}

/** What a place's title says of its search: the query (with a cursor while typed), then how many lines match. */
export function searchLabel(search: { query: string; editing: boolean }, lines: readonly Line[]): string {
  if (search.editing) return `/${search.query}▍`;
  const n = matchingLines(lines, search.query).length;
  return `/${search.query} (${n === 0 ? 'no match' : `${n} line${n === 1 ? '' : 's'}`}; n/N, Esc clears)`;
}
