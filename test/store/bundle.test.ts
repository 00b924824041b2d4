import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../../src/store/store.ts';
import { parseBundle } from '../../src/store/bundle.ts';
import { branchEntries } from '../../src/engine/branching.ts';
import { parseDuration } from '../../src/commands/session/bundles.ts';
import { tempStore, testEngine, type TestEngine } from '../helpers/workspace.ts';
import { countingTool } from '../helpers/tools.ts';
import { childEnv } from '../helpers/child-env.ts';
import { countRows } from '../helpers/raw-db.ts';

const FIXTURE = new URL('../fixtures/bundles/v1-main.p2tui.json', import.meta.url).pathname;
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

function otherStore(): Store {
  const made = tempStore();
  cleanups.push(made.cleanup);
  return made.store;
}

async function sessionWithBranches(): Promise<{ t: TestEngine; id: string }> {
  const t = await testEngine(
    [
      {
        id: 'lead',
        description: 'Delegates.',
        agents: ['w'],
        script: [{ when: '.', steps: [{ delegate: 'w', message: 'work' }, { reply: 'done: {{result}}' }] }],
      },
      {
        id: 'w',
        description: 'Works.',
        tools: ['tick'],
        script: [{ when: '.', steps: [{ call: 'tick', args: { n: 1 } }, { reply: 'w done' }] }],
      },
    ],
    { tools: [countingTool('tick')] },
  );
  cleanups.push(() => t.close());
  const run = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
  await run.idle();
  t.engine.store.write(() =>
    t.engine.store.artifacts.put(
      '{"report":1}',
      { mime: 'application/json', kind: 'file', name: 'r.json', session: run.id },
      1,
    ),
  );
  const first = branchEntries(t.engine.store, run.id, t.engine.store.sessions.resolve(run.id).headBranch)[3]!;
  await t.engine.fork(run.id, { atSeq: first.seq, label: 'again', createdBy: 'test', checkout: true });
  const again = await t.engine.attach(run.id);
  again.resume();
  await again.idle();
  return { t, id: run.id };
}

describe('session bundles', () => {
  it('exports a session with its branches, recordings and artifacts, and imports it elsewhere with every branch intact', async () => {
    const { t, id } = await sessionWithBranches();
    const bundle = parseBundle(
      JSON.parse(JSON.stringify(t.engine.store.bundles.export(id, 'test', Date.now()))),
      'bundle.json',
    );
    const other = otherStore();
    // Something already in the other database, so the imported seqs are renumbered.
    other.write(() =>
      other.append(
        {
          type: 'entry',
          kind: 'user_message',
          payload: { text: 'unrelated' },
          session: 's_other',
          branch: 'b_x',
          conversation: 'c_x',
        },
        1,
      ),
    );
    expect(other.bundles.import(bundle)).toEqual({ session: id, events: bundle.events.length });
    const branches = t.engine.store.sessions.branches(id);
    expect(other.sessions.branches(id).map((b) => b.label)).toEqual(branches.map((b) => b.label));
    for (const b of branches) {
      const texts = (s: Store): string[] => branchEntries(s, id, b.id).map((e) => `${e.id} ${e.kind}`);
      expect(texts(other)).toEqual(texts(t.engine.store));
    }
    expect(other.calls.modelCalls({ session: id })).toHaveLength(
      t.engine.store.calls.modelCalls({ session: id }).length,
    );
    expect(other.artifacts.list(id).map((a) => a.name)).toEqual(['r.json']);
    expect(() => other.bundles.import(bundle)).toThrow(/already in this database/);
  });

  it('refuses a file that is not a bundle, or one from a newer p2tui', () => {
    expect(() => parseBundle({ hello: 1 }, 'x.json')).toThrow(/x.json: \(bundle\): not a p2tui session bundle/);
    expect(() => parseBundle({ format: 'p2tui-session-bundle', version: 99 }, 'x.json')).toThrow(/bundle version 99/);
  });

  it('refuses a hand-edited bundle before writing anything: unknown columns, wrong types, foreign rows, forged bytes', async () => {
    const { t, id } = await sessionWithBranches();
    const good = JSON.parse(JSON.stringify(t.engine.store.bundles.export(id, 'test', Date.now()))) as Record<
      string,
      unknown
    >;
    const other = otherStore();
    const attempt = (edit: (b: Record<string, unknown[] | unknown>) => void): string => {
      const bundle = structuredClone(good) as Record<string, unknown[] | unknown>;
      edit(bundle);
      try {
        other.bundles.import(parseBundle(bundle, 'evil.json'));
        return 'imported';
      } catch (error) {
        return (error as Error).message;
      }
    };
    const events = (b: Record<string, unknown>): Record<string, unknown>[] => b['events'] as Record<string, unknown>[];
    // A column name the file makes up (once built into the INSERT statement): refused, never turned into SQL.
    expect(
      attempt((b) => {
        events(b)[0]!['payload) VALUES (1); DROP TABLE sessions; --'] = 'x';
      }),
    ).toMatch(/evil.json: events\[0\]: unknown column "payload\) VALUES/);
    expect(
      attempt((b) => {
        events(b)[1]!['seq'] = 'one';
      }),
    ).toMatch(/evil.json: events\[1\].seq: Invalid input: expected number/);
    // A row of another session smuggled in: it would rewrite that session's history.
    expect(
      attempt((b) => {
        events(b)[2]!['session_id'] = 's_victim';
      }),
    ).toMatch(/events\[2\].session_id: "s_victim" is not the bundle's session/);
    // Bytes that do not hash to their name would poison a database that lacks them.
    expect(
      attempt((b) => {
        const artifacts = b['artifacts'] as { data: string }[];
        artifacts[0]!.data = Buffer.from('{"report":"forged"}').toString('base64');
      }),
    ).toMatch(/does not hold the bytes its hash names/);
    // Nothing of the refused bundles was written; the untouched one imports.
    expect(other.sessions.get(id)).toBeUndefined();
    expect(attempt(() => undefined)).toBe('imported');
    expect(other.sessions.list({ limit: 10 }).map((r) => r.id)).toEqual([id]);
  });

  it('stores an artifact over 4 MB in chunks, reads and exports it whole, deletes the chunks with the session', () => {
    const store = otherStore();
    const bundle = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, unknown> & {
      session: { id: string };
      artifacts: Record<string, unknown>[];
      artifactRefs: Record<string, unknown>[];
    };
    const bytes = randomBytes(6 * 1024 * 1024 + 5);
    const hash = createHash('sha256').update(bytes).digest('hex');
    const artifact = {
      hash,
      size: bytes.length,
      mime: 'application/octet-stream',
      data: bytes.toString('base64'),
      created_at: 1,
    };
    bundle.artifacts.push(artifact);
    bundle.artifactRefs.push({ ...bundle.artifactRefs[0], id: 'a_big', hash, name: 'big.bin' });
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-chunks-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const chunks = (): number => countRows(store.path, 'SELECT count(*) AS n FROM artifact_chunks');

    // Bytes that do not hash to their name: refused, and none of the chunks written on the way stays.
    const forged = join(dir, 'forged.json');
    const last = bytes.toString('base64');
    writeFileSync(
      forged,
      JSON.stringify({
        ...bundle,
        artifacts: [bundle.artifacts[0], { ...artifact, data: `${last.slice(0, -8)}AAAAAAA=` }],
      }),
    );
    expect(() => store.bundles.importFile(forged)).toThrow(
      `${forged}: artifacts[1].data: artifact ${hash} does not hold the bytes its hash names`,
    );
    expect(chunks()).toBe(0);
    expect(store.sessions.get(bundle.session.id)).toBeUndefined();

    const file = join(dir, 'big.json');
    writeFileSync(file, JSON.stringify(bundle));
    expect(store.bundles.importFile(file)).toEqual({ session: bundle.session.id, events: 36 });
    expect(chunks()).toBeGreaterThan(1);
    expect(countRows(store.path, 'SELECT length(data) AS n FROM artifacts WHERE hash = ?', hash)).toBe(0);
    expect(store.artifacts.get(hash)!.data.equals(bytes)).toBe(true);
    const exported = store.bundles.export(bundle.session.id, 'test', 1);
    expect(exported.artifacts.find((a) => a.hash === hash)!.data).toBe(artifact.data);
    store.bundles.remove(bundle.session.id);
    expect(chunks()).toBe(0);
  });

  it('deletes a session and its rows everywhere, and artifacts no other session uses', async () => {
    const { t, id } = await sessionWithBranches();
    const store = t.engine.store;
    const count = (sql: string): number => countRows(store.path, sql, id);
    expect(count('SELECT count(*) AS n FROM events WHERE session_id = ?')).toBeGreaterThan(0);
    store.bundles.remove(id);
    for (const table of ['events', 'intents', 'heads', 'conversations', 'branches', 'artifact_refs'])
      expect(count(`SELECT count(*) AS n FROM ${table} WHERE session_id = ?`)).toBe(0);
    expect(countRows(store.path, 'SELECT count(*) AS n FROM model_calls')).toBe(0);
    expect(countRows(store.path, 'SELECT count(*) AS n FROM artifacts')).toBe(0);
    expect(store.sessions.get(id)).toBeUndefined();
  });

  it('prune --older-than deletes old sessions and reports the space; durations are checked', () => {
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(parseDuration('90m')).toBe(90 * 60_000);
    expect(() => parseDuration('soon')).toThrow(/not a duration/);
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-prune-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ROOT = new URL('../..', import.meta.url).pathname;
    const p2tui = (...args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args, '--db', join(dir, 'p.db')], {
        cwd: ROOT,
        encoding: 'utf8',
        env: childEnv(),
        timeout: 60_000,
      });
    const id = (
      JSON.parse(p2tui('run', 'agent_helper', 'weather in Oslo', '--approval', 'deny', '--json').stdout) as {
        session: string;
      }
    ).session;
    expect(p2tui('session', 'prune', '--older-than', '1d').stdout).toContain('nothing to prune');
    const dry = p2tui('session', 'prune', '--older-than', '0s', '--dry-run');
    expect(dry.stdout).toContain(`would delete 1 session: ${id}`);
    const done = p2tui('session', 'prune', '--older-than', '0s');
    expect(done.stdout).toMatch(/deleted 1 session; the database went from \d+ to \d+ bytes/);
    expect(p2tui('session', 'list').stdout).not.toContain(id);
  });
});
