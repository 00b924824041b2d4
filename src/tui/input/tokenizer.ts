/**
 * Splits what the terminal sends into input events, in order. A terminal hands over whatever arrived since the last
 * read: fast typing, a paste without bracketed paste or a script put text, Tab, Enter and escape sequences into one
 * chunk, and an escape sequence may be split across two chunks. Every key of a chunk becomes its own event here, so
 * none is lost or taken as text; a partial sequence waits for the next chunk (or, for a lone Esc, a short timeout).
 */
export type InputEvent =
  /** A special key ('enter', 'tab', 'up', 'ctrl-x', 'alt-x', 'f5', 'shift-up', …). */
  | { readonly kind: 'key'; readonly name: string }
  /** A run of printable characters typed. */
  | { readonly kind: 'text'; readonly text: string }
  /** Text pasted between the bracketed-paste markers: text, never commands; newlines kept. */
  | { readonly kind: 'paste'; readonly text: string }
  /** An SGR mouse report; x and y count from 0 (column, row). */
  | { readonly kind: 'mouse'; readonly action: MouseAction; readonly x: number; readonly y: number };

export type MouseAction = 'press' | 'release' | 'wheel-up' | 'wheel-down' | 'other';

const ESC = '\u001b';
const PASTE_START = `${ESC}[200~`;
const PASTE_END = `${ESC}[201~`;

/** After a lone Esc, how long to wait for the rest of a sequence before taking it as the Esc key. */
export const ESCAPE_TIMEOUT_MS = 40;

const CSI_LETTERS: Readonly<Record<string, string>> = {
  A: 'up',
  B: 'down',
  C: 'right',
  D: 'left',
  H: 'home',
  F: 'end',
  P: 'f1',
  Q: 'f2',
  R: 'f3',
  S: 'f4',
};

const CSI_TILDE: Readonly<Record<string, string>> = {
  '1': 'home',
  '2': 'insert',
  '3': 'delete',
  '4': 'end',
  '5': 'pageup',
  '6': 'pagedown',
  '7': 'home',
  '8': 'end',
  '11': 'f1',
  '12': 'f2',
  '13': 'f3',
  '14': 'f4',
  '15': 'f5',
  '17': 'f6',
  '18': 'f7',
  '19': 'f8',
  '20': 'f9',
  '21': 'f10',
  '23': 'f11',
  '24': 'f12',
};

/** xterm's modifier parameter (1 + shift 1 + alt 2 + ctrl 4) as a name prefix. */
function modifiers(param: string | undefined): string {
  const m = Number(param ?? '1') - 1;
  if (!(m > 0)) return '';
  return `${m & 4 ? 'ctrl-' : ''}${m & 2 ? 'alt-' : ''}${m & 1 ? 'shift-' : ''}`;
}

function controlKey(ch: string): string | undefined {
  const code = ch.charCodeAt(0);
  if (ch === '\r' || ch === '\n') return 'enter';
  if (ch === '\t') return 'tab';
  if (code === 0x7f || code === 0x08) return 'backspace';
  if (code >= 1 && code <= 26) return `ctrl-${String.fromCharCode(code + 96)}`;
  return undefined;
}

const isControl = (code: number): boolean => code < 0x20 || code === 0x7f;

export class InputTokenizer {
  /** An unfinished escape sequence from the end of the last chunk. */
  private pending = '';
  /** Text of a bracketed paste still arriving (null: not in a paste). */
  private paste: string | null = null;

  /** Whether an Esc (or a partial sequence) waits: call flush() after ESCAPE_TIMEOUT_MS if nothing else arrives. */
  get waiting(): boolean {
    return this.pending !== '' && this.paste === null;
  }

  push(chunk: string): InputEvent[] {
    const events: InputEvent[] = [];
    const buf = this.pending + chunk;
    this.pending = '';
    let i = 0;
    while (i < buf.length) {
      if (this.paste !== null) {
        const end = buf.indexOf(PASTE_END, i);
        if (end < 0) {
          // Keep a possible start of the end marker for the next chunk.
          let keep = 0;
          for (let k = Math.min(PASTE_END.length - 1, buf.length - i); k > 0; k--)
            if (PASTE_END.startsWith(buf.slice(buf.length - k))) {
              keep = k;
              break;
            }
          this.paste += buf.slice(i, buf.length - keep);
          this.pending = buf.slice(buf.length - keep);
          return events;
        }
        events.push({ kind: 'paste', text: (this.paste + buf.slice(i, end)).replace(/\r\n?/g, '\n') });
        this.paste = null;
        i = end + PASTE_END.length;
        continue;
      }
      const code = buf.charCodeAt(i);
      if (code === 0x1b) {
        const taken = this.escape(buf, i, events);
        if (taken === 0) {
          this.pending = buf.slice(i);
          return events;
        }
        i += taken;
        continue;
      }
      if (isControl(code)) {
        // \r\n (a script's or a paste's line end) is one Enter.
        if (buf[i] === '\r' && buf[i + 1] === '\n') i++;
        const name = controlKey(buf[i]!);
        if (name !== undefined) events.push({ kind: 'key', name });
        i++;
        continue;
      }
      let j = i;
      while (j < buf.length && !isControl(buf.charCodeAt(j))) j++;
      events.push({ kind: 'text', text: buf.slice(i, j) });
      i = j;
    }
    return events;
  }

  /** The Esc timeout passed: a waiting lone Esc is the Esc key; the rest of a broken sequence is read again. */
  flush(): InputEvent[] {
    if (!this.waiting) return [];
    const rest = this.pending.slice(1);
    this.pending = '';
    return [{ kind: 'key', name: 'escape' }, ...this.push(rest)];
  }

  /** Reads the escape sequence at buf[i]; returns how many characters it took, 0 when it is not complete yet. */
  private escape(buf: string, i: number, events: InputEvent[]): number {
    const next = buf[i + 1];
    if (next === undefined) return 0;
    if (next === ESC) {
      events.push({ kind: 'key', name: 'escape' });
      return 1;
    }
    if (next === 'O') {
      const last = buf[i + 2];
      if (last === undefined) return 0;
      const name = CSI_LETTERS[last];
      if (name !== undefined) events.push({ kind: 'key', name });
      return 3;
    }
    if (next !== '[') {
      // Alt with a key: the terminal sends Esc before it.
      const name = controlKey(next);
      events.push({ kind: 'key', name: `alt-${name ?? next}` });
      return 2;
    }
    // CSI: parameters 0x30–0x3f, intermediates 0x20–0x2f, one final 0x40–0x7e.
    let j = i + 2;
    while (j < buf.length && buf.charCodeAt(j) >= 0x20 && buf.charCodeAt(j) <= 0x3f) j++;
    if (j >= buf.length) return 0;
    const final = buf[j]!;
    const finalCode = final.charCodeAt(0);
    if (finalCode < 0x40 || finalCode > 0x7e) {
      // Not a sequence after all: take the Esc alone, read the rest as typed.
      events.push({ kind: 'key', name: 'escape' });
      return 1;
    }
    const body = buf.slice(i + 2, j);
    const taken = j - i + 1;
    if (buf.startsWith(PASTE_START, i)) {
      this.paste = '';
      return taken;
    }
    if (body.startsWith('<') && (final === 'M' || final === 'm')) {
      events.push(mouse(body.slice(1), final === 'm'));
      return taken;
    }
    const params = body.split(';');
    if (final === '~') {
      const name = CSI_TILDE[params[0] ?? ''];
      if (name !== undefined) events.push({ kind: 'key', name: modifiers(params[1]) + name });
    } else if (final === 'Z') {
      events.push({ kind: 'key', name: 'shift-tab' });
    } else {
      const name = CSI_LETTERS[final];
      if (name !== undefined) events.push({ kind: 'key', name: modifiers(params[1]) + name });
    }
    // Anything else (focus reports, device replies) is neither a key nor text.
    return taken;
  }
}

function mouse(body: string, release: boolean): InputEvent {
  const [b, x, y] = body.split(';').map(Number);
  const button = b ?? 0;
  const at = { x: (x ?? 1) - 1, y: (y ?? 1) - 1 };
  if (button & 64) return { kind: 'mouse', action: (button & 3) === 0 ? 'wheel-up' : 'wheel-down', ...at };
  // Motion reports (32) and buttons other than the left one are not used.
  if (button & 32 || (button & 3) !== 0) return { kind: 'mouse', action: 'other', ...at };
  return { kind: 'mouse', action: release ? 'release' : 'press', ...at };
}
