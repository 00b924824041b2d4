import { createHash } from 'node:crypto';

/**
 * Seeded randomness for the simulator. A draw is a pure function of its key (seed, conversation, ordinal, purpose),
 * never of scheduling order, so concurrent sessions and replays see the same choices.
 */
export function uniform(...key: (string | number)[]): number {
  const digest = createHash('sha256').update(key.join('\u0000')).digest();
  // 48 bits are plenty for a probability draw and stay exact in a double.
  return digest.readUIntBE(0, 6) / 2 ** 48;
}
