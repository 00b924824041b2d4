import { createHash } from 'node:crypto';

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A running hash over a sequence of strings: `next = sha256(prev + "\n" + item)`. Lets the request hash of a
 * growing conversation be computed in O(1) per step instead of rehashing the whole history.
 */
export function chainHash(previous: string, item: string): string {
  return createHash('sha256').update(previous).update('\n').update(item).digest('hex');
}

export const EMPTY_CHAIN = '0'.repeat(64);
