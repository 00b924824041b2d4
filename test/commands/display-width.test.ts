import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import { NARROW, displayWidth } from '../../src/commands/render/text.ts';

/**
 * displayWidth measures text of NARROW characters itself (so a rollout's progress bar or a table of ASCII never loads
 * string-width): what it says must be what string-width says, character by character, and anything else goes there.
 */
describe('displayWidth', () => {
  it('counts one column for every character of its fast path, exactly as string-width does', () => {
    const fast: string[] = [];
    for (let cp = 0; cp <= 0x2fff; cp++) {
      const ch = String.fromCodePoint(cp);
      if (NARROW.test(ch)) fast.push(ch);
    }
    expect(fast.length).toBeGreaterThan(200);
    for (const ch of fast) expect([ch, displayWidth(ch)]).toEqual([ch, stringWidth(ch)]);
    const bar = '[████████░░░░] 512/1,000 cells · 510 done · 2 failed · ✓ ← → …';
    expect(displayWidth(bar)).toBe(stringWidth(bar));
  });

  it('hands wide and combining text to string-width', () => {
    for (const text of ['表示', 'e\u0301', '👍🏽 ok', '\u001b[1m漢字\u001b[22m'])
      expect(displayWidth(text)).toBe(stringWidth(text));
    expect(displayWidth('表示')).toBe(4);
  });
});
