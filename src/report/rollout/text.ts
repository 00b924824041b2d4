import type { Html } from '../html.ts';
import { html } from '../html.ts';

/**
 * Limits that keep a report of a thousand cells a file a browser opens at once: a long reply or tool output is cut
 * with a visible count of what was left out (the full text stays in the database: `p2tui session export`).
 */
export const LIMITS = {
  /** Characters of one transcript entry (a message, tool arguments, a tool result, a judge's comment). */
  entryChars: 4_000,
  /** Entries of one cell's transcript shown; the rest are counted. */
  entries: 300,
  /** Characters of a failed cell's error in the grid (the transcript has it whole, up to entryChars). */
  gridErrorChars: 160,
} as const;

/** Text cut at `max` characters (not inside a surrogate pair), with "… N more characters" said visibly. */
export function capped(text: string, max: number = LIMITS.entryChars): Html {
  const chars = [...text];
  if (chars.length <= max) return html`${text}`;
  const more = chars.length - max;
  return html`${chars.slice(0, max).join('')}<span class="more">… ${more.toLocaleString('en-US')} more characters</span>`;
}

/** A number with `digits` decimals, `–` for none. */
export function fixed(n: number | null | undefined, digits = 2): string {
  return n === null || n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

/** Milliseconds since the epoch as an ISO time (UTC, to the second), `–` for none. */
export function when(ms: number | null): string {
  return ms === null ? '–' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
