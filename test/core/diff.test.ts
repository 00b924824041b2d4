import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { diffArrays } from 'diff';
import {
  diffSequences,
  normalizeForDiff,
  sideBySide,
  splitLines,
  unifiedHunks,
  wordDiff,
} from '../../src/core/diff.ts';

/** Applies an edit script to the old side: it must give the new side. */
function apply(ops: ReturnType<typeof diffSequences>): { a: string[]; b: string[] } {
  return {
    a: ops.filter((o) => o.kind !== 'add').map((o) => o.text),
    b: ops.filter((o) => o.kind !== 'del').map((o) => o.text),
  };
}

describe('diff', () => {
  it('produces a script that rebuilds both sides, for any pair of texts (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 40 }),
        fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 40 }),
        (a, b) => {
          const ops = diffSequences(a, b);
          expect(apply(ops)).toEqual({ a, b });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("is as short as jsdiff's edit script for any pair of texts: the same minimal number of changes (property)", () => {
    // jsdiff (the `diff` package) as the oracle: both are Myers' algorithm, so both find the shortest edit script.
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 60 }),
        fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 60 }),
        (a, b) => {
          const ours = diffSequences(a, b).filter((o) => o.kind !== 'same').length;
          const theirs = diffArrays(a, b)
            .filter((c) => c.added || c.removed)
            .reduce((n, c) => n + c.count, 0);
          expect(ours).toBe(theirs);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('marks changed words in any script, not only ASCII ones', () => {
    const { from, to } = wordDiff('température élevée à Zürich', 'température basse à Zürich');
    expect(from).toEqual([
      { kind: 'same', text: 'température ' },
      { kind: 'changed', text: 'élevée' },
      { kind: 'same', text: ' à Zürich' },
    ]);
    expect(to.find((p) => p.kind === 'changed')?.text).toBe('basse');
  });

  it('is minimal on a simple edit, and shows the changed words of a replaced line', () => {
    const ops = diffSequences(splitLines('one\ntwo\nthree\n'), splitLines('one\n2\nthree\n'));
    expect(ops).toEqual([
      { kind: 'same', text: 'one' },
      { kind: 'del', text: 'two' },
      { kind: 'add', text: '2' },
      { kind: 'same', text: 'three' },
    ]);
    expect(sideBySide(ops)).toEqual([
      { kind: 'same', left: 'one', right: 'one' },
      { kind: 'changed', left: 'two', right: '2' },
      { kind: 'same', left: 'three', right: 'three' },
    ]);
    const words = wordDiff('Paris: 22 °C, partly cloudy', 'Paris: 19 °C, light rain');
    expect(words.from.filter((p) => p.kind === 'changed').map((p) => p.text.trim())).toEqual(['22', 'partly cloudy']);
    expect(words.to.filter((p) => p.kind === 'changed').map((p) => p.text.trim())).toEqual(['19', 'light rain']);
  });

  it('compares JSON by content: key order and spacing are not changes', () => {
    const a = normalizeForDiff('{"b":1,"a":[1,2]}', true);
    const b = normalizeForDiff('{ "a": [1, 2], "b": 2 }', true);
    const ops = diffSequences(splitLines(a), splitLines(b));
    expect(ops.filter((o) => o.kind !== 'same')).toEqual([
      { kind: 'del', text: '  "b": 1' },
      { kind: 'add', text: '  "b": 2' },
    ]);
  });

  it('groups changes into unified hunks with context and line numbers', () => {
    const a = Array.from({ length: 20 }, (_, i) => `line ${i + 1}`);
    const b = [...a];
    b[4] = 'changed 5';
    b[15] = 'changed 16';
    const hunks = unifiedHunks(diffSequences(a, b), 2);
    expect(hunks.map((h) => h.header)).toEqual(['@@ -3,5 +3,5 @@', '@@ -14,5 +14,5 @@']);
  });
});
