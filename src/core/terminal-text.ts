/**
 * Text from models, tools and MCP servers made safe to show on a terminal: it is shown, never obeyed. A reply that
 * holds `ESC]52;c;…` (write the clipboard), `ESC]0;…` (set the title) or `ESC[2K\r` (erase and overwrite a line)
 * must not do any of it, and must not hide or reorder text with bidi overrides.
 *
 * The rule is per character, so it needs no parsing and holds for text cut anywhere (streamed deltas):
 * - C0 controls other than newline and tab, and DEL, become their Unicode control pictures, one column wide: ESC
 *   shows as ␛, CR as ␍, BEL as ␇, backspace as ␈. What followed an ESC is then plain printable text: the
 *   sequence is visible (`␛]0;title␇`) instead of acted on. A CR right before a newline (CRLF) is just the newline.
 * - C1 controls (U+0080–U+009F, among them the 8-bit CSI U+009B and OSC U+009D), bidi embeddings, overrides and
 *   isolates (U+202A–U+202E, U+2066–U+2069) and the other invisible format characters (Unicode's Cf: zero-width
 *   space, word joiner, BOM, interlinear annotations, tag characters; line and paragraph separators; Hangul
 *   fillers) become U+FFFD (�), as does half of a surrogate pair (text cut inside a character). Kept, because
 *   text needs them and they cannot hide or reorder it: zero-width (non-)joiners (emoji sequences, Indic and
 *   Persian scripts), the implicit direction marks LRM, RLM and ALM, the soft hyphen and the visible Arabic number
 *   signs.
 * - Colour codes (SGR, `ESC[…m`) in such text are removed, their text kept: model output cannot paint itself in
 *   p2tui's colours or hide itself. p2tui's own colours are added after cleaning, and `forTerminal` keeps them.
 */

/**
 * The characters the rules act on: C0 controls but tab and newline, DEL and C1, Unicode's format characters (Cf),
 * line and paragraph separators, Hangul fillers, and halves of surrogate pairs (a `u` pattern matches only lone ones).
 */
const ACTED_ON = String.raw`[\u0000-\u0008\u000b-\u001f\u007f-\u009f\p{Cf}\u2028\u2029\u115f\u1160\u3164\uffa0\ud800-\udfff]`;

/** Any character the rules act on; text without one is returned as it is (the common case, kept fast). */
const SUSPECT = new RegExp(ACTED_ON, 'u');

/** What `terminalText` replaces, one match at a time: CRLF (a newline) or one such character. */
const REPLACED = new RegExp(String.raw`\r\n|${ACTED_ON}`, 'gu');

/** What `jsonForTerminal` escapes. */
const ESCAPED = new RegExp(ACTED_ON, 'gu');

/** A colour or style sequence (Select Graphic Rendition), 7-bit or 8-bit. */
const SGR = new RegExp(String.raw`(?:\u001b\[|\u009b)[0-9;:]*m`, 'g');

/**
 * The colour and style codes p2tui writes itself (commands/render/text.ts, paint): bold 1, dim 2, inverse 7 and
 * their ends 22 and 27, six colours 31–36 and gray 90 and their end 39. Any other (conceal, blink, a background)
 * from text a renderer forgot to clean is removed, as `terminalText` removes it.
 */
const OWN_SGR = new RegExp(String.raw`\u001b\[(?:1|2|7|22|27|3[1-6]|39|90)m`, 'g');

/** Format characters that stay: they join or direct text, and none can hide or reorder what is shown. */
const KEPT = new Set(
  [0x00ad, 0x061c, 0x200c, 0x200d, 0x200e, 0x200f, 0x06dd, 0x070f, 0x0890, 0x0891, 0x08e2, 0x110bd, 0x110cd]
    .concat([0x0600, 0x0601, 0x0602, 0x0603, 0x0604, 0x0605])
    .map((c) => String.fromCodePoint(c)),
);

const REPLACEMENT = '\ufffd';

function visible(ch: string): string {
  if (ch === '\r\n') return '\n';
  const code = ch.codePointAt(0)!;
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return '\u2421';
  if (KEPT.has(ch)) return ch;
  return REPLACEMENT;
}

/** The text without its colour and style codes: what a terminal shows of its characters (the redactor checks it). */
export function withoutColours(text: string): string {
  return text.replace(SGR, '');
}

/** Text from a model, a tool or an MCP server (or anything quoting it), ready to print: see the module comment. */
export function terminalText(text: string): string {
  if (!SUSPECT.test(text)) return text;
  return text.replace(SGR, '').replace(REPLACED, visible);
}

/**
 * The last guard before bytes reach a terminal, over whole lines p2tui has composed: the same rules as
 * `terminalText`, except that with `color` on, p2tui's own colour codes stay (put there by its renderers after they
 * cleaned what they quote). Nothing else that moves the cursor, sets a title or writes the clipboard gets through,
 * even from a spot that forgot to clean its text.
 */
export function forTerminal(text: string, color: boolean): string {
  if (!SUSPECT.test(text)) return text;
  if (!color) return terminalText(text);
  let out = '';
  let from = 0;
  for (const match of text.matchAll(OWN_SGR)) {
    out += terminalText(text.slice(from, match.index)) + match[0];
    from = match.index + match[0].length;
  }
  return out + terminalText(text.slice(from));
}

/**
 * JSON text (or any text printed with --json) made safe for a terminal without changing what it says: every
 * character `terminalText` would replace is written as its JSON escape (`\u009b`, `\u202e`, a tag character as its
 * two surrogate escapes). `JSON.stringify` escapes C0 controls itself but leaves C1 controls, bidi overrides and
 * other format characters raw; in JSON they can only stand inside strings, where the escape means the same
 * character, so a parser reads exactly the same value.
 */
export function jsonForTerminal(json: string): string {
  if (!SUSPECT.test(json)) return json;
  return json.replace(ESCAPED, (ch) => {
    if (KEPT.has(ch)) return ch;
    let out = '';
    for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return out;
  });
}

/**
 * Every string inside a value (an event's payload, a stored entry, a score) cleaned as `terminalText` does, for
 * renderers that format many fields of one record: cleaning the record once covers every field they quote. Keys,
 * numbers and the value's shape stay as they are.
 */
export function terminalTexts<T>(value: T): T {
  return clean(value) as T;
}

function clean(value: unknown): unknown {
  if (typeof value === 'string') return terminalText(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const items = value.map(clean);
    return items.every((item, i) => item === value[i]) ? value : items;
  }
  // Only plain records: a Date, a Map or a class instance is not made of text a model wrote.
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  let changed = false;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const cleaned = clean(v);
    if (cleaned !== v) changed = true;
    // Defined, not assigned: a model's JSON may hold a "__proto__" key, which assignment would not copy.
    Object.defineProperty(out, key, { value: cleaned, enumerable: true, writable: true, configurable: true });
  }
  // Nothing to clean (the usual case): the same value, not a copy.
  return changed ? out : value;
}

/** An end of text that may be the start of something the next piece completes (see `unfinishedTail`). */
const UNFINISHED = new RegExp(String.raw`(?:\u001b(?:\[[0-9;:]*)?|\u009b[0-9;:]*|\r|[\ud800-\udbff])$`);

/**
 * Streamed text, split where it is safe to clean: `ready` is everything but an end that the next delta may complete
 * (the start of a colour code, a CR that may begin a CRLF, the first half of a surrogate pair), `held` that end.
 * A stream cleans `ready` now and puts `held` before its next piece, so a streamed reply reads as its stored text
 * does (a colour code cut in two is removed, not shown as `␛[31m`). Holding back is never needed for safety: every
 * piece is cleaned whole either way.
 */
export function unfinishedTail(text: string): { ready: string; held: string } {
  const match = UNFINISHED.exec(text);
  // A colour code is short: a longer run of digits after ESC [ is not one, and is shown as it is.
  if (match === null || match[0].length > 16) return { ready: text, held: '' };
  return { ready: text.slice(0, match.index), held: match[0] };
}
