import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { sha256 } from '../../src/core/hash.ts';
import { parseBundle } from '../../src/store/bundle.ts';
import { defineTool } from '../../src/tools/define.ts';
import { countRows } from '../helpers/raw-db.ts';
import { tempStore, testEngine } from '../helpers/workspace.ts';

/**
 * Large arguments and errors are stored once, as artifacts the rows name (issue 16, point 6): a session bundle
 * carries them, and the imported session reads its calls' arguments back whole.
 */

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

describe('a bundle of a session with large arguments and errors', () => {
  it('exports their artifacts; the imported intents read the arguments back whole', async () => {
    const memo = 'q'.repeat(40_000);
    const file = defineTool({
      name: 'file',
      description: 'Files a memo, then fails loudly.',
      input: z.object({ memo: z.string() }),
      effect: 'idempotent',
      run: () => {
        throw new Error('x'.repeat(40_000));
      },
    });
    const t = await testEngine(
      [
        {
          id: 'solo',
          description: 'Solo.',
          tools: ['file'],
          script: [{ when: '.', steps: [{ call: 'file', args: { memo } }, { reply: 'ok' }] }],
        },
      ],
      { tools: [file] },
    );
    cleanups.push(() => t.close());
    const run = t.engine.start({ agent: 'solo', message: 'go', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const exported = t.engine.store.bundles.export(run.id, 'test', Date.now());
    // Without the arguments' artifact (and its references), the bundle is refused before anything is written.
    const argsHash = t.engine.store.artifacts.list(run.id).find((a) => a.kind === 'tool_arguments')!.hash;
    const stripped = JSON.parse(JSON.stringify(exported)) as {
      artifacts: { hash: string }[];
      artifactRefs: { hash: string }[];
    };
    stripped.artifacts = stripped.artifacts.filter((a) => a.hash !== argsHash);
    stripped.artifactRefs = stripped.artifactRefs.filter((a) => a.hash !== argsHash);
    expect(() => parseBundle(stripped, 'bundle.json')).toThrow(
      expect.objectContaining({
        code: 'E_BUNDLE_INVALID',
        message: expect.stringContaining(`intents[0].args: "${argsHash}" is not a row of "artifacts" in this bundle`),
      }),
    );
    const bundle = parseBundle(JSON.parse(JSON.stringify(exported)), 'bundle.json');
    const made = tempStore();
    cleanups.push(made.cleanup);
    const other = made.store;
    other.bundles.import(bundle);
    expect(
      other.artifacts
        .list(run.id)
        .map((a) => [a.kind, a.size])
        .sort(),
    ).toEqual([
      ['tool_arguments', 40_011],
      ['tool_error', 40_000],
    ]);
    const [intent] = other.calls.recordedResults(run.id, [other.sessions.resolve(run.id).headBranch]);
    expect(intent!.args).toEqual({ memo });
    expect(intent!.result).toMatchObject({ kind: 'tool_result', payload: { status: 'error' } });
  });
});

describe('an artifact over 4 MB', () => {
  it('is written in pieces and read back byte for byte, a character split across two pieces included', () => {
    const made = tempStore();
    cleanups.push(made.cleanup);
    const { store } = made;
    // An emoji (two UTF-16 units) straddles the first 1 MB boundary; accents make the bytes outnumber the units.
    const text = `${'a'.repeat((1 << 20) - 1)}😀${'é'.repeat(2_500_000)}`;
    const ref = store.write(() => store.artifacts.put(text, { mime: 'text/plain', kind: 'file', name: 'big.txt' }, 1));
    expect(ref.hash).toBe(sha256(Buffer.from(text, 'utf8')));
    expect(ref.size).toBe(Buffer.byteLength(text));
    expect(countRows(store.path, 'SELECT count(*) AS n FROM artifact_chunks WHERE hash = ?', ref.hash)).toBeGreaterThan(
      1,
    );
    expect(store.artifacts.get(ref.hash)!.data.toString('utf8')).toBe(text);
  });
});
