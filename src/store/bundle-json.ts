import { closeSync, openSync, readSync } from 'node:fs';

/**
 * A pull parser for JSON read from a file in 1 MB chunks, so a bundle of any size is imported with memory for one
 * row at a time (and, for an artifact, its decoded bytes) instead of the whole file, its string and its object
 * tree at once. Synchronous on purpose: the import runs inside one SQLite transaction, which cannot await.
 *
 * It is strict where JSON.parse is lenient in ways that matter for hostile input: a key twice in one object is
 * refused (JSON.parse keeps the last, so two readers could see two different rows), `__proto__` is an own property
 * like any other key, and nesting is bounded.
 */

const CHUNK = 1 << 16;
const MAX_DEPTH = 128;
const MAX_KEY = 1_000;
/** A value other than an artifact's bytes: generous, but it bounds what one hostile string can make us hold. */
export const MAX_STRING = 256 * 1024 * 1024;

export type JsonKind = 'object' | 'array' | 'string' | 'number' | 'boolean' | 'null';

export class JsonFileReader {
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafe(CHUNK);
  private pos = 0;
  private end = 0;
  /** Bytes of the file before `buf`, for positions in messages. */
  private before = 0;
  private eof = false;
  /** For each open object or array: whether its first member is still to come. */
  private readonly first: boolean[] = [];
  private readonly fail: (message: string) => never;

  constructor(path: string, fail: (message: string) => never) {
    this.fd = openSync(path, 'r');
    this.fail = fail;
  }

  close(): void {
    closeSync(this.fd);
  }

  private broken(what: string): never {
    return this.fail(`not valid JSON at byte ${this.before + this.pos}: ${what}`);
  }

  /** True when a byte is available at `pos`, reading the next chunk if needed. */
  private fill(): boolean {
    if (this.pos < this.end) return true;
    if (this.eof) return false;
    this.before += this.end;
    this.end = readSync(this.fd, this.buf, 0, CHUNK, null);
    this.pos = 0;
    if (this.end === 0) this.eof = true;
    return this.end > 0;
  }

  /** The next byte that is not white space (not consumed), or -1 at the end of the file. */
  private peek(): number {
    while (this.fill()) {
      const c = this.buf[this.pos]!;
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return c;
      this.pos += 1;
    }
    return -1;
  }

  private expect(byte: number, what: string): void {
    if (this.peek() !== byte) this.broken(`expected ${what}`);
    this.pos += 1;
  }

  /** What the next value is, without reading it. */
  kind(): JsonKind {
    const c = this.peek();
    if (c === 0x7b) return 'object';
    if (c === 0x5b) return 'array';
    if (c === 0x22) return 'string';
    if (c === 0x74 || c === 0x66) return 'boolean';
    if (c === 0x6e) return 'null';
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) return 'number';
    return this.broken(c === -1 ? 'the file ends early' : `unexpected character '${String.fromCharCode(c)}'`);
  }

  beginObject(): void {
    this.expect(0x7b, "'{'");
    this.first.push(true);
  }

  /** The next key of the open object, or undefined once it closes. */
  nextKey(): string | undefined {
    if (!this.more(0x7d)) return undefined;
    const key = this.readString(MAX_KEY);
    this.expect(0x3a, "':'");
    return key;
  }

  beginArray(): void {
    this.expect(0x5b, "'['");
    this.first.push(true);
  }

  /** Whether the open array has another element (then positioned on it). */
  nextElement(): boolean {
    return this.more(0x5d);
  }

  private more(close: number): boolean {
    if (this.peek() === close) {
      this.pos += 1;
      this.first.pop();
      return false;
    }
    const top = this.first.length - 1;
    if (!this.first[top]) this.expect(0x2c, `',' or '${String.fromCharCode(close)}'`);
    this.first[top] = false;
    return true;
  }

  /** Only white space may follow the bundle. */
  finish(): void {
    if (this.peek() !== -1) this.broken('more data after the bundle');
  }

  /** Any value, built as JSON.parse would (except that a repeated key is refused). */
  readValue(depth = 0): unknown {
    if (depth > MAX_DEPTH) this.broken(`nested deeper than ${MAX_DEPTH} levels`);
    switch (this.kind()) {
      case 'object': {
        this.beginObject();
        const out: Record<string, unknown> = {};
        for (let key = this.nextKey(); key !== undefined; key = this.nextKey()) {
          if (Object.hasOwn(out, key)) this.broken(`key ${JSON.stringify(key)} appears twice in one object`);
          // An own property even for "__proto__" (plain assignment would replace the prototype instead).
          Object.defineProperty(out, key, {
            value: this.readValue(depth + 1),
            enumerable: true,
            writable: true,
            configurable: true,
          });
        }
        return out;
      }
      case 'array': {
        this.beginArray();
        const out: unknown[] = [];
        while (this.nextElement()) out.push(this.readValue(depth + 1));
        return out;
      }
      case 'string':
        return this.readString(MAX_STRING);
      case 'number':
        return this.readNumber();
      default:
        return this.readWord();
    }
  }

  private readWord(): boolean | null {
    const word = this.peek() === 0x74 ? 'true' : this.peek() === 0x66 ? 'false' : 'null';
    for (let i = 0; i < word.length; i++) {
      if (!this.fill() || this.buf[this.pos] !== word.charCodeAt(i)) this.broken(`expected ${word}`);
      this.pos += 1;
    }
    return word === 'null' ? null : word === 'true';
  }

  private readNumber(): number {
    let text = '';
    this.peek();
    while (this.fill()) {
      const c = this.buf[this.pos]!;
      if (!((c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65 || c === 0x45)) break;
      text += String.fromCharCode(c);
      this.pos += 1;
      if (text.length > 400) this.broken('a number too long');
    }
    if (!/^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/.test(text)) this.broken(`'${text}' is not a number`);
    return Number(text);
  }

  /** A string (its escapes decoded), refused past `limit` bytes. */
  readString(limit: number): string {
    this.expect(0x22, 'a string');
    const parts: Buffer[] = [];
    let length = 0;
    let escapes = false;
    let escaping = false;
    for (;;) {
      if (!this.fill()) this.broken('the file ends inside a string');
      const start = this.pos;
      let closed = false;
      while (this.pos < this.end) {
        const c = this.buf[this.pos]!;
        if (escaping) escaping = false;
        else if (c === 0x5c) escaping = escapes = true;
        else if (c === 0x22) {
          closed = true;
          break;
        } else if (c < 0x20) this.broken('a control character inside a string');
        this.pos += 1;
      }
      length += this.pos - start;
      if (length > limit) this.broken(`a string longer than ${limit} bytes`);
      parts.push(Buffer.from(this.buf.subarray(start, this.pos)));
      if (closed) {
        this.pos += 1;
        break;
      }
    }
    const raw = (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).toString('utf8');
    if (!escapes) return raw;
    try {
      return JSON.parse(`"${raw}"`) as string;
    } catch {
      return this.broken('a bad escape in a string');
    }
  }

  /**
   * A string of base64, decoded as it is read and handed to `each` piece by piece (at most ~768 KB each, a fresh
   * buffer every time): neither the text nor the bytes are ever held whole here. Returns how many bytes it decoded.
   */
  readBase64(each: (piece: Buffer) => void, limit: number): number {
    if (this.kind() !== 'string') this.fail('expected the bytes as base64 text');
    this.pos += 1;
    let written = 0;
    let carry = '';
    let padding = 0;
    for (;;) {
      if (!this.fill()) this.broken('the file ends inside a string');
      const start = this.pos;
      let closed = false;
      while (this.pos < this.end) {
        const c = this.buf[this.pos]!;
        if (c === 0x22) {
          closed = true;
          break;
        }
        const letter =
          (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f;
        if (c === 0x3d) padding += 1;
        else if (!letter || padding > 0) this.fail('the bytes are not base64');
        this.pos += 1;
      }
      const text = carry + this.buf.toString('latin1', start, this.pos);
      const whole = text.length - (text.length % 4);
      if (whole > 0) {
        const piece = Buffer.from(text.slice(0, whole), 'base64');
        written += piece.length;
        if (written > limit) this.fail(`artifact larger than ${limit} bytes`);
        each(piece);
      }
      carry = text.slice(whole);
      if (closed) {
        this.pos += 1;
        break;
      }
    }
    if (carry.length > 0 || padding > 2) this.fail('the bytes are not base64');
    return written;
  }
}
