import { describe, expect, it } from 'vitest';
import { unknownIdHint } from '../../src/core/errors.ts';

/** What an id that names nothing is answered with: the nearest id, else the latest ones, then where to list them. */
describe('unknownIdHint', () => {
  const ids = ['s_9f8e7d6c5b', 's_1a2b3c4d5e', 's_0000000000', 's_aaaaaaaaaa'];

  it('suggests the id one typo away, also when the typo is in a prefix of it', () => {
    expect(unknownIdHint('s_1a2b3c4d5f', ids, 'p2tui session list')).toBe(
      'Did you mean s_1a2b3c4d5e? See all: p2tui session list',
    );
    expect(unknownIdHint('s_1a2c', ids, 'p2tui session list')).toBe(
      'Did you mean s_1a2b3c4d5e? See all: p2tui session list',
    );
  });

  it('names the latest three when none is close, and says when there are none', () => {
    expect(unknownIdHint('zzz_nothing_like', ids, 'p2tui session list')).toBe(
      'The latest: s_9f8e7d6c5b, s_1a2b3c4d5e, s_0000000000. See all: p2tui session list',
    );
    expect(unknownIdHint('x', [], 'p2tui rollout list')).toBe('There are none yet (p2tui rollout list).');
  });
});
