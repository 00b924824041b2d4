import type { JsonValue } from '../../core/json.ts';
import { formatUsd } from '../../core/money.ts';
import type { Html } from '../html.ts';
import { anchorId, html } from '../html.ts';

/**
 * The limits that keep a session report a page a browser opens without trouble whatever a model wrote: each text is
 * cut at a limit and says how much it left out; the whole of it stays in the database (`p2tui session stack --json`).
 */
export const LIMITS = {
  /** A message, a question, an answer, a judge's reasoning. */
  text: 4_000,
  /** A tool call's arguments or result, as indented JSON. */
  json: 2_000,
  /** A line in the tree, the branch table or a branch's own entries. */
  line: 300,
  /** Entries shown per conversation transcript, and per branch's own entries. */
  entries: 500,
} as const;

/** Text cut at `limit` characters (never inside a surrogate pair), saying how many more there were. */
export function capped(text: string, limit: number): Html {
  if (text.length <= limit) return html`${text}`;
  let end = limit;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return html`${text.slice(0, end)}<span class="more">… ${text.length - end} more characters</span>`;
}

/** A JSON value as indented text (a string as it is), capped. */
export function cappedJson(value: JsonValue | undefined): Html {
  if (value === undefined) return html``;
  return capped(typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? ''), LIMITS.json);
}

export function cost(usd: number, simulated: boolean): string {
  return simulated ? `${formatUsd(usd)} (simulated)` : formatUsd(usd);
}

export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Anchors of the page: a conversation's transcript, one entry of it, a branch's row. */
export const anchors = {
  conversation: (id: string): string => anchorId('conv', id),
  entry: (id: string): string => anchorId('entry', id),
  branch: (id: string): string => anchorId('branch', id),
};

/** The branch as people name it: its label when it has one, with its id. */
export function branchName(row: { id: string; label: string | null }): string {
  return row.label === null ? row.id : `${row.label} (${row.id})`;
}
