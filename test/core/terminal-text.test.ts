import { describe, expect, it } from 'vitest';
import {
  forTerminal,
  jsonForTerminal,
  terminalText,
  terminalTexts,
  unfinishedTail,
} from '../../src/core/terminal-text.ts';
import { STYLES, paint } from '../../src/commands/render/text.ts';

/** Anything a terminal would act on: C0 but newline and tab, DEL, C1, bidi controls, other invisible formats. */
const ACTIVE =
  // eslint-disable-next-line no-control-regex -- control characters are what the test looks for
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200b\u2060\ufeff\u{e0000}-\u{e007f}]/u;

const ESC = '\u001b';
const BEL = '\u0007';

/** Hostile inputs and what a person sees instead (the table the README's promise rests on). */
const CASES: readonly (readonly [string, string, string])[] = [
  ['clipboard write (OSC 52, BEL)', `${ESC}]52;c;aGVsbG8=${BEL}`, '␛]52;c;aGVsbG8=␇'],
  ['clipboard write (OSC 52, ST)', `${ESC}]52;c;aGVsbG8=${ESC}\\`, '␛]52;c;aGVsbG8=␛\\'],
  ['window title (OSC 0)', `${ESC}]0;pwned${BEL}ok`, '␛]0;pwned␇ok'],
  ['hyperlink (OSC 8)', `${ESC}]8;;https://evil${ESC}\\click${ESC}]8;;${ESC}\\`, '␛]8;;https://evil␛\\click␛]8;;␛\\'],
  ['erase line and return', `done${ESC}[2K\rfake`, 'done␛[2K␍fake'],
  ['cursor moves', `${ESC}[1A${ESC}[10;20H${ESC}[?25l`, '␛[1A␛[10;20H␛[?25l'],
  ['private CSI (alternate screen)', `${ESC}[?1049h`, '␛[?1049h'],
  ['DCS string', `${ESC}Pq#0;2;0;0;0${ESC}\\`, '␛Pq#0;2;0;0;0␛\\'],
  ['APC, PM, SOS strings', `${ESC}_a${ESC}\\${ESC}^b${ESC}\\${ESC}Xc${ESC}\\`, '␛_a␛\\␛^b␛\\␛Xc␛\\'],
  ['single-character ESC (reset, index)', `${ESC}c${ESC}D${ESC}M`, '␛c␛D␛M'],
  ['colour codes are removed, their text kept', `${ESC}[31mred${ESC}[0m ${ESC}[8mhidden${ESC}[m`, 'red hidden'],
  ['8-bit CSI colour', '\u009b31mred', 'red'],
  ['8-bit CSI and OSC', '\u009b2J\u009d0;t\u0007', '\ufffd2J\ufffd0;t␇'],
  ['other C1 controls', '\u0085\u008d\u0090\u009c\u009f', '\ufffd\ufffd\ufffd\ufffd\ufffd'],
  ['bell, backspace, form feed, vertical tab, NUL', 'a\u0007b\bc\fd\ve\u0000', 'a␇b␈c␌d␋e␀'],
  ['DEL', 'x\u007fy', 'x␡y'],
  ['lone carriage return overwrites', 'safe\rEVIL', 'safe␍EVIL'],
  ['CRLF is a newline', 'a\r\nb', 'a\nb'],
  ['bidi override (Trojan Source)', 'if admin \u202e} {\u2066', 'if admin \ufffd} {\ufffd'],
  [
    'every bidi embedding, override and isolate',
    '\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069',
    '\ufffd'.repeat(9),
  ],
  ['zero-width space, word joiner, BOM', 'p\u200ba\u2060y\ufeff', 'p\ufffda\ufffdy\ufffd'],
  ['invisible tag characters', 'hi\u{e0041}\u{e0042}', 'hi\ufffd\ufffd'],
  ['line and paragraph separators', 'a\u2028b\u2029c', 'a\ufffdb\ufffdc'],
  ['Hangul filler', 'x\u3164y', 'x\ufffdy'],
  ['half of a surrogate pair', 'a\udb40b', 'a\ufffdb'],
  ['interlinear annotation', '\ufff9a\ufffab\ufffb', '\ufffda\ufffdb\ufffd'],
];

/** Ordinary text, unchanged. */
const KEPT: readonly string[] = [
  'plain text, with\nnewlines\tand tabs',
  'emoji joined: 👩‍💻 👨‍👩‍👧 ❤️',
  'عربى مع علامة\u200f اتجاه',
  'hyphen\u00adated',
  'नमस्ते \u200c',
  '␛ already a picture',
];

describe('terminalText', () => {
  it.each(CASES)('%s', (_name, input, shown) => {
    const out = terminalText(input);
    expect(out).toBe(shown);
    expect(out).not.toMatch(ACTIVE);
    // Cleaning twice changes nothing: a renderer and the output's guard may both clean one text.
    expect(terminalText(out)).toBe(out);
  });

  it.each(KEPT)('keeps %j', (text) => {
    expect(terminalText(text)).toBe(text);
  });

  it('holds for text cut anywhere (streamed deltas)', () => {
    const hostile = CASES.map(([, input]) => input).join('');
    for (let cut = 0; cut <= hostile.length; cut++) {
      const out = terminalText(hostile.slice(0, cut)) + terminalText(hostile.slice(cut));
      expect(out).not.toMatch(ACTIVE);
    }
  });
});

describe('forTerminal', () => {
  it("keeps p2tui's own colours when colour is on, and nothing else", () => {
    const line = `\u001b[32m✓ finished\u001b[39m ${ESC}]0;title${BEL} ${ESC}[2K\r`;
    expect(forTerminal(line, true)).toBe('\u001b[32m✓ finished\u001b[39m ␛]0;title␇ ␛[2K␍');
  });

  it('shows every escape when colour is off', () => {
    expect(forTerminal(`${ESC}[32mok${ESC}[39m`, false)).toBe('ok');
    expect(forTerminal(`a${ESC}]52;c;x${BEL}`, false)).toBe('a␛]52;c;x␇');
  });

  it('removes an 8-bit colour code even when colour is on (p2tui never writes one)', () => {
    expect(forTerminal('\u009b31mred', true)).toBe('red');
  });
});

describe('jsonForTerminal', () => {
  it('escapes what JSON.stringify leaves raw, and a parser reads the same value', () => {
    const value = { text: CASES.map(([, input]) => input).join(''), kept: KEPT.join(' ') };
    const json = JSON.stringify(value, null, 2);
    // JSON.stringify alone lets C1 controls, bidi overrides and tag characters through.
    expect(json).toMatch(ACTIVE);
    const safe = jsonForTerminal(json);
    expect(safe).not.toMatch(ACTIVE);
    expect(JSON.parse(safe)).toEqual(value);
    expect(safe).toContain('\\u009b');
    expect(safe).toContain('\\u202e');
  });
});

describe('unfinishedTail', () => {
  it('holds back what the next streamed piece may complete, so streamed text cleans as the whole text does', () => {
    const whole = `a ${ESC}[31mred${ESC}[0m b\r\nc 👩‍💻 ${ESC}]0;t${BEL} end`;
    for (let size = 1; size <= 4; size++) {
      let held = '';
      let shown = '';
      for (let i = 0; i < whole.length; i += size) {
        const split = unfinishedTail(held + whole.slice(i, i + size));
        shown += terminalText(split.ready);
        held = split.held;
      }
      shown += terminalText(held);
      expect(shown).toBe(terminalText(whole));
    }
  });

  it('holds nothing back from ordinary text, nor a long run after ESC [', () => {
    expect(unfinishedTail('plain')).toEqual({ ready: 'plain', held: '' });
    expect(unfinishedTail(`x${ESC}[12`)).toEqual({ ready: 'x', held: `${ESC}[12` });
    const long = `${ESC}[${'1'.repeat(40)}`;
    expect(unfinishedTail(long)).toEqual({ ready: long, held: '' });
  });
});

describe("p2tui's own colours", () => {
  it('pass the guard exactly, in every style paint knows and nested; conceal, blink and backgrounds do not', () => {
    for (const style of STYLES) {
      const line = paint(true, style, `${style} ${paint(true, 'bold', 'x')} y`);
      expect(line).toContain(ESC);
      expect(forTerminal(line, true)).toBe(line);
    }
    expect(forTerminal(`${ESC}[8mhidden${ESC}[5mblink${ESC}[41mbg${ESC}[0m`, true)).toBe('hiddenblinkbg');
  });
});

describe('terminalTexts', () => {
  it('cleans every string of a record, keeps its shape, and returns the record itself when nothing needed it', () => {
    const event = { seq: 3, payload: { text: `a${ESC}]0;t${BEL}`, list: ['ok', '\u202ex'], at: new Date(0) } };
    expect(terminalTexts(event)).toEqual({
      seq: 3,
      payload: { text: 'a␛]0;t␇', list: ['ok', '\ufffdx'], at: new Date(0) },
    });
    const parsed = JSON.parse('{"__proto__": "\\u001b[2J", "b": "\\u0007"}') as Record<string, string>;
    expect(Object.entries(terminalTexts(parsed))).toEqual([
      ['__proto__', '␛[2J'],
      ['b', '␇'],
    ]);
    const plain = { seq: 4, payload: { text: 'fine', list: ['a'] } };
    expect(terminalTexts(plain)).toBe(plain);
  });
});
