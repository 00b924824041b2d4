import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../../src/commands/run/run.ts';
import {
  artifactsDiffCommand,
  artifactsListCommand,
  artifactsShowCommand,
} from '../../../src/commands/session/artifacts.ts';
import { EXIT } from '../../../src/commands/types.ts';
import { tempWorkspace } from '../../helpers/workspace.ts';
import { commandContext, type TestContext } from '../helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface ArtifactJson {
  hash: string;
  name: string;
  kind: string;
  mime: string;
  size: number;
}

/** A finished session with two JSON artifacts (as a tool's ctx.attach leaves them). */
async function sessionWithArtifacts(): Promise<{ ctx: TestContext; session: string; a: string; b: string }> {
  const ws = tempWorkspace();
  ws.persona({ id: 'solo', description: 'Answers.', script: [{ when: '.', steps: [{ reply: 'The answer is 42.' }] }] });
  const ctx = commandContext(ws.dir);
  cleanups.push(() => ws.cleanup());
  cleanups.push(() => ctx.close());
  const r = await ctx.run(runCommand, ['solo', 'what is it?', '--json']);
  const session = (r.json as { session: string }).session;
  const store = await ctx.store();
  const put = (data: string, name: string): string =>
    store.write(
      () => store.artifacts.put(data, { mime: 'application/json', kind: 'file', name, session }, Date.now()).hash,
    );
  return { ctx, session, a: put('{"b":1,"a":2}', 'first.json'), b: put('{"a":2,"b":3}', 'second.json') };
}

describe('artifacts', () => {
  it("list shows a session's artifacts; --entries adds its messages by entry id", async () => {
    const { ctx, session, a, b } = await sessionWithArtifacts();
    const list = await ctx.run(artifactsListCommand, [session, '--json']);
    expect(list.exitCode).toBe(EXIT.ok);
    const refs = list.json as unknown as ArtifactJson[];
    expect(refs.map((r) => [r.hash, r.name, r.kind, r.mime])).toEqual([
      [a, 'first.json', 'file', 'application/json'],
      [b, 'second.json', 'file', 'application/json'],
    ]);
    const text = await ctx.run(artifactsListCommand, ['last']);
    expect(text.lines[0]).toMatch(/^hash\s+name\s+kind\s+mime\s+size\s+created$/);
    expect(text.lines[1]).toContain(a.slice(0, 12));
    expect(text.lines[1]).toContain('first.json');

    const entries = await ctx.run(artifactsListCommand, [session, '--entries', '--json']);
    const kinds = (entries.json as unknown as ArtifactJson[]).map((r) => r.kind);
    expect(kinds).toEqual(['file', 'file', 'user_message', 'assistant_message']);
  });

  it('list says so when a session has none', async () => {
    const ws = tempWorkspace();
    ws.persona({ id: 'solo', description: 'Answers.', script: [{ when: '.', steps: [{ reply: 'ok' }] }] });
    const ctx = commandContext(ws.dir);
    cleanups.push(() => ws.cleanup());
    cleanups.push(() => ctx.close());
    const session = ((await ctx.run(runCommand, ['solo', 'hi', '--json'])).json as { session: string }).session;
    const r = await ctx.run(artifactsListCommand, [session]);
    expect(r.lines).toEqual([
      `session ${session} has no artifacts (tools create them with ctx.attach, and outputs over 16 KB become one)`,
    ]);
  });

  it('show prints an artifact by a prefix of its hash; diff compares JSON by content and exits 1 when they differ', async () => {
    const { ctx, a, b } = await sessionWithArtifacts();
    const shown = await ctx.run(artifactsShowCommand, [a.slice(0, 10)]);
    expect(shown.lines).toEqual(['{"b":1,"a":2}']);
    expect((await ctx.run(artifactsShowCommand, [a, '--json'])).json).toMatchObject({ hash: a, text: '{"b":1,"a":2}' });
    await expect(ctx.run(artifactsShowCommand, ['ffffffffffff'])).rejects.toMatchObject({ code: 'E_UNKNOWN_ARTIFACT' });

    const same = await ctx.run(artifactsDiffCommand, [a, a]);
    expect(same.exitCode).toBe(EXIT.ok);
    expect(same.lines).toEqual(['identical']);
    const differ = await ctx.run(artifactsDiffCommand, [a, b, '--json']);
    expect(differ.exitCode).toBe(EXIT.failed);
    const diff = (differ.json as { same: boolean; diff: string[] }).diff;
    // Keys sorted, one value per line: only b's value differs.
    expect(diff.filter((l) => l.startsWith('-') || l.startsWith('+'))).toEqual(['-  "b": [-1-]', '+  "b": {+3+}']);
    const wide = await ctx.run(artifactsDiffCommand, [a, b, '--side-by-side', '--width', '60']);
    expect(wide.exitCode).toBe(EXIT.failed);
    expect(Math.max(...wide.lines.map((l) => l.length))).toBeLessThanOrEqual(60);
  });
});
