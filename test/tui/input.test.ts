import { describe, expect, it } from 'vitest';
import { insertText } from '../../src/tui/text-input.ts';
import { InputTokenizer, type InputEvent } from '../../src/tui/input/tokenizer.ts';

const ESC = '\u001b';
const keys = (events: InputEvent[]): string[] =>
  events.map((e) =>
    e.kind === 'key' ? `<${e.name}>` : e.kind === 'mouse' ? `<mouse ${e.action} ${e.x},${e.y}>` : `${e.kind}:${e.text}`,
  );

describe('the input tokenizer: a chunk is split into events, in order', () => {
  it('splits a burst of text, Tab and Enter into every key in order', () => {
    const t = new InputTokenizer();
    expect(keys(t.push('scripted/slow\t0.5\t\thot\r'))).toEqual([
      'text:scripted/slow',
      '<tab>',
      'text:0.5',
      '<tab>',
      '<tab>',
      'text:hot',
      '<enter>',
    ]);
    expect(keys(t.push('What is 6 * 7?\r\n'))).toEqual(['text:What is 6 * 7?', '<enter>']);
  });

  it('reads control keys, CSI and SS3 sequences with modifiers, F-keys and shift-tab', () => {
    const t = new InputTokenizer();
    const burst = `a\u007f\u0003${ESC}[A${ESC}OB${ESC}[1;5C${ESC}[5~${ESC}[6~${ESC}[H${ESC}[4~${ESC}[Z${ESC}[15~${ESC}OP${ESC}x`;
    expect(keys(t.push(burst))).toEqual([
      'text:a',
      '<backspace>',
      '<ctrl-c>',
      '<up>',
      '<down>',
      '<ctrl-right>',
      '<pageup>',
      '<pagedown>',
      '<home>',
      '<end>',
      '<shift-tab>',
      '<f5>',
      '<f1>',
      '<alt-x>',
    ]);
  });

  it('keeps a sequence split across chunks, and tells a lone Esc from it only after the timeout', () => {
    const t = new InputTokenizer();
    expect(keys(t.push(`x${ESC}`))).toEqual(['text:x']);
    expect(t.waiting).toBe(true);
    expect(keys(t.push('[B'))).toEqual(['<down>']);
    expect(keys(t.push(`${ESC}[1;`))).toEqual([]);
    expect(keys(t.push('2A'))).toEqual(['<shift-up>']);
    expect(keys(t.push(ESC))).toEqual([]);
    expect(keys(t.flush())).toEqual(['<escape>']);
    expect(t.waiting).toBe(false);
  });

  it('takes a bracketed paste as one text, newlines kept, even split across chunks', () => {
    const t = new InputTokenizer();
    expect(keys(t.push(`a${ESC}[200~line one\r\nq\t`))).toEqual(['text:a']);
    expect(keys(t.push(`line two${ESC}[20`))).toEqual([]);
    expect(keys(t.push(`1~\r`))).toEqual(['paste:line one\nq\tline two', '<enter>']);
  });

  it('reads SGR mouse reports: wheel, press, release', () => {
    const t = new InputTokenizer();
    expect(keys(t.push(`${ESC}[<64;10;5M${ESC}[<65;1;1M${ESC}[<0;3;4M${ESC}[<0;3;4m`))).toEqual([
      '<mouse wheel-up 9,4>',
      '<mouse wheel-down 0,0>',
      '<mouse press 2,3>',
      '<mouse release 2,3>',
    ]);
  });
});

describe('inserting text', () => {
  it('keeps a pasted newline in the message input, and one line elsewhere', () => {
    expect(insertText({ text: 'ab', cursor: 1 }, 'x\r\ny', true)).toEqual({ text: 'ax\nyb', cursor: 4 });
    expect(insertText({ text: '', cursor: 0 }, 'x\ny\u0007')).toEqual({ text: 'x y', cursor: 3 });
  });
});
