import { randomFillSync } from 'node:crypto';

/**
 * Identifiers. Sessions, conversations and branches get short random ids a person can type (and abbreviate to a
 * unique prefix); event ids are a per-process random prefix plus a counter, which is unique across processes and
 * cheap enough for the hot path.
 */
const ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz'; // Crockford base32, lower case

/** Random bytes drawn from the system in blocks: one call per few hundred ids instead of one per id (each a syscall). */
const pool = Buffer.alloc(4096);
let used = pool.length;

export function randomId(prefix: string, length = 10): string {
  if (length > pool.length) return randomId(prefix, pool.length) + randomId('', length - pool.length);
  if (used + length > pool.length) {
    randomFillSync(pool);
    used = 0;
  }
  let out = prefix;
  for (let i = 0; i < length; i++) out += ALPHABET[pool[used + i]! & 31];
  used += length;
  return out;
}

export const newSessionId = (): string => randomId('s_', 8);
export const newConversationId = (): string => randomId('c_', 10);
export const newBranchId = (): string => randomId('b_', 8);
export const newModelCallId = (): string => nextEventId('m_');
export const newJobId = (): string => nextEventId('j_');
export const newScoreId = (): string => nextEventId('sc_');

const processPrefix = randomId('', 6);
let counter = 0;

/** Event ids: unique across processes sharing a database, ordered within a process. */
export function nextEventId(prefix = 'e_'): string {
  counter += 1;
  return `${prefix}${processPrefix}${counter.toString(36)}`;
}
