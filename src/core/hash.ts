import { createHash } from 'node:crypto';

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A text's UTF-8 bytes in pieces of at most `chars` UTF-16 units (a surrogate pair is never split): a large text is
 * hashed or written without its whole encoding in memory at once.
 */
export function* utf8Pieces(text: string, chars = 1 << 20): Generator<Buffer> {
  for (let at = 0; at < text.length;) {
    let end = Math.min(at + chars, text.length);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end -= 1;
    yield Buffer.from(text.slice(at, end), 'utf8');
    at = end;
  }
}

/** The sha256 of a text's UTF-8 bytes, encoded piece by piece (the same hash as `sha256(text)`). */
export function sha256Text(text: string): string {
  const hash = createHash('sha256');
  for (const piece of utf8Pieces(text)) hash.update(piece);
  return hash.digest('hex');
}

/**
 * A running hash over a sequence of strings: `next = sha256(prev + "\n" + item)`. Lets the request hash of a
 * growing conversation be computed in O(1) per step instead of rehashing the whole history.
 */
export function chainHash(previous: string, item: string): string {
  return createHash('sha256').update(previous).update('\n').update(item).digest('hex');
}

export const EMPTY_CHAIN = '0'.repeat(64);
