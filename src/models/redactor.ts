import { withoutColours } from '../core/terminal-text.ts';

/** What a secret is replaced with wherever it would be stored or shown. */
export const REDACTED = '[redacted]';

/**
 * Replaces every configured secret (API keys, values of the variables that hold them, MCP servers' tokens) in text
 * shown or stored. Secrets are matched leftmost first and, where two start at the same place, longest first, the
 * same way whether the text is whole or arrives in pieces (see `stream`). A whole text also loses its colour codes
 * when they split a secret (what is stored and shown afterwards); a stream does not look through them.
 */
export class Redactor {
  private readonly secrets = new Set<string>();
  private pattern: RegExp | undefined;
  private longestLength = 0;

  add(value: string | undefined): void {
    // Short values would redact ordinary words; no real key is this short.
    if (value === undefined || value.length < 8 || this.secrets.has(value)) return;
    this.secrets.add(value);
    this.longestLength = Math.max(this.longestLength, value.length);
    const alternatives = [...this.secrets].sort((a, b) => b.length - a.length).map(escapeRegExp);
    this.pattern = new RegExp(alternatives.join('|'), 'g');
  }

  /** Whether any secret is known (when none is, redacting is skipped entirely). */
  get active(): boolean {
    return this.pattern !== undefined;
  }

  /** The length of the longest secret: how much of a stream's tail must wait for the next piece. */
  get longest(): number {
    return this.longestLength;
  }

  /** A JSON value with every secret replaced in its strings and keys (the same value when nothing matched). */
  json<T>(value: T): T {
    if (this.pattern === undefined) return value;
    return this.walk(value) as T;
  }

  redact(text: string): string {
    if (this.pattern === undefined || text.length < 8) return text;
    const redacted = text.replace(this.pattern, REDACTED);
    if (!redacted.includes('\u001b') && !redacted.includes('\u009b')) return redacted;
    // Colour codes inside a key (a tool that highlights a match, as `rg --color always` does) hide it from the
    // match, and the terminal removes them from what it shows, which would put the key back together: such text
    // loses its colour codes and the key.
    const plain = withoutColours(redacted);
    const again = plain.replace(this.pattern, REDACTED);
    return again === plain ? redacted : again;
  }

  /**
   * A redactor for text that arrives in pieces (a streamed reply): a secret split across two pieces is caught
   * because the last `longest - 1` characters are held back until the next piece shows how they go on.
   */
  stream(): StreamRedactor {
    return new StreamRedactor(this);
  }

  /** Where the first secret starts in `text` at or after `from`, and how long it is. */
  find(text: string, from: number): { index: number; length: number } | undefined {
    if (this.pattern === undefined) return undefined;
    // The one global pattern, its position set for this search (nothing else runs in between).
    this.pattern.lastIndex = from;
    const match = this.pattern.exec(text);
    return match === null ? undefined : { index: match.index, length: match[0].length };
  }

  private walk(value: unknown): unknown {
    if (typeof value === 'string') return this.redact(value);
    if (Array.isArray(value)) {
      const items = value.map((v) => this.walk(v));
      return items.every((v, i) => v === value[i]) ? value : items;
    }
    if (value !== null && typeof value === 'object') {
      let changed = false;
      const entries = Object.entries(value).map(([k, v]): [string, unknown] => {
        const key = this.redact(k);
        const inner = this.walk(v);
        if (key !== k || inner !== v) changed = true;
        return [key, inner];
      });
      return changed ? Object.fromEntries(entries) : value;
    }
    return value;
  }
}

/** One stream's redaction: `push` each piece and show what it returns; `end` gives the held-back rest. */
export class StreamRedactor {
  private readonly redactor: Redactor;
  private pending = '';

  constructor(redactor: Redactor) {
    this.redactor = redactor;
  }

  /** What of the text so far can be shown now, redacted. */
  push(piece: string): string {
    this.pending += piece;
    return this.take(false);
  }

  /** The rest, redacted: the stream is over. */
  end(): string {
    return this.take(true);
  }

  private take(all: boolean): string {
    const text = this.pending;
    // A secret starting before `cut` lies wholly inside the text so far (none is longer than `longest`); one that
    // starts at or after it may still be cut off.
    const cut = all ? text.length : text.length - (this.redactor.longest - 1);
    let out = '';
    let position = 0;
    for (;;) {
      const found = this.redactor.find(text, position);
      if (found === undefined || found.index >= cut) break;
      out += text.slice(position, found.index) + REDACTED;
      position = found.index + found.length;
    }
    const end = Math.max(cut, position);
    out += text.slice(position, end);
    this.pending = text.slice(end);
    return out;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
