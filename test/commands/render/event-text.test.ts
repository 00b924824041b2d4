import { describe, expect, it } from 'vitest';
import { EventText } from '../../../src/commands/render/event-text.ts';
import { terminalText } from '../../../src/core/terminal-text.ts';

/**
 * Streamed model text on the terminal: each delta is cleaned, and a colour code or CRLF cut between two deltas reads
 * as it does in the committed text (removed, a newline), not as `␛[31m` or `␍`.
 */
const ESC = '\u001b';

function streamed(pieces: readonly string[]): string {
  const text = new EventText({ color: false });
  text.know([{ id: 'c1', agent: 'bot', depth: 0 } as Parameters<EventText['know']>[0][number]]);
  let out = '';
  for (const piece of pieces)
    out +=
      text.delta({ type: 'delta', session: 's', conversation: 'c1', agent: 'bot', modelCall: 'm1', text: piece }) ?? '';
  out += text.delta({ type: 'stream.end', session: 's', conversation: 'c1', modelCall: 'm1' }) ?? '';
  return out;
}

describe('EventText streaming', () => {
  it('cleans each delta, and a sequence cut between deltas the same as the whole reply', () => {
    const reply = `one ${ESC}[31mred${ESC}[0m two\r\nthree ${ESC}]0;title\u0007 four\r`;
    const whole = `bot ▸ ${terminalText(reply).replace(/\n/g, '\n   ')}\n`;
    expect(streamed([reply])).toBe(whole);
    // Cut everywhere: after ESC, inside the code, between CR and LF.
    for (let size = 1; size <= 5; size++) {
      const pieces: string[] = [];
      for (let i = 0; i < reply.length; i += size) pieces.push(reply.slice(i, i + size));
      const out = streamed(pieces);
      expect(out).toBe(whole);
      expect(out).not.toContain(ESC);
    }
  });
});
