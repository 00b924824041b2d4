import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Store } from '../../src/store/store.ts';
import type { SessionRow } from '../../src/store/sessions.ts';
import { branchEntries, forkBranch } from '../../src/engine/branching.ts';
import { readSession } from '../../src/engine/session-view.ts';
import { tempStore, testEngine, type TestEngine } from '../helpers/workspace.ts';
import { countingTool } from '../helpers/tools.ts';
import { rebuildConversations } from '../../src/engine/rebuild.ts';
import { PersonaKit } from '../../src/engine/persona-kit.ts';
import type { ConversationRuntime } from '../../src/engine/conversation.ts';
import { withRawDb } from '../helpers/raw-db.ts';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function store(): Store {
  const made = tempStore();
  cleanups.push(made.cleanup);
  return made.store;
}

function session(s: Store): SessionRow {
  const row: SessionRow = {
    id: 's_prop',
    createdAt: 0,
    updatedAt: 0,
    agent: 'a',
    rootConversation: 'c_root',
    headBranch: 'b_main',
    title: 't',
    source: 'api',
    status: 'running',
    statusReason: null,
    options: { seed: 1, maxSteps: 10, approval: 'deny' },
    workspace: '/',
  };
  s.write(() => {
    s.sessions.createSession(row);
    s.sessions.createBranch(
      {
        id: 'b_main',
        session: row.id,
        parent: null,
        forkSeq: null,
        label: 'main',
        overrides: {},
        createdBy: 'test',
        createdAt: 0,
      },
      [],
    );
  });
  return row;
}

type Op = { kind: 'append'; branch: number; conversation: number } | { kind: 'fork'; branch: number; point: number };

describe('branches (property)', () => {
  it('every branch shows exactly the history obtained by copying entries naively at each fork', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          kind: fc.constant('append' as const),
          branch: fc.nat(),
          conversation: fc.nat({ max: 2 }),
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('fork' as const), branch: fc.nat(), point: fc.nat() }) },
    );
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 60 }), (ops) => {
        const s = store();
        const row = session(s);
        const naive = new Map<string, string[]>([['b_main', []]]);
        const ids = ['b_main'];
        let n = 0;
        for (const o of ops) {
          const branch = ids[o.branch % ids.length]!;
          if (o.kind === 'append') {
            const text = `e${n++}`;
            s.write(() =>
              s.append(
                {
                  type: 'entry',
                  kind: 'user_message',
                  payload: { text },
                  session: row.id,
                  branch,
                  conversation: `c${o.conversation}`,
                },
                1,
              ),
            );
            naive.get(branch)!.push(text);
          } else {
            const visible = branchEntries(s, row.id, branch);
            if (visible.length === 0) continue;
            const cut = o.point % visible.length;
            const fork = s.write(() =>
              forkBranch(s, row, { from: branch, atSeq: visible[cut]!.seq, createdBy: 'test', now: 1 }),
            );
            ids.push(fork.branch.id);
            naive.set(fork.branch.id, naive.get(branch)!.slice(0, cut + 1));
          }
        }
        for (const id of ids) {
          const shown = branchEntries(s, row.id, id).map((e) => (e.payload as { text: string }).text);
          expect(shown).toEqual(naive.get(id));
        }
      }),
      { numRuns: 60 },
    );
  });
});

describe('fork, rewind and checkout in sessions', () => {
  const engines: TestEngine[] = [];
  afterEach(() => {
    for (const e of engines.splice(0)) e.close();
  });

  it('rewinds into the middle of a delegation: a consistent cut that continues, with the old branch intact', async () => {
    const t = await testEngine(
      [
        {
          id: 'lead',
          description: 'Delegates.',
          agents: ['w'],
          script: [{ when: '.', steps: [{ delegate: 'w', message: 'work' }, { reply: 'lead done: {{result}}' }] }],
        },
        {
          id: 'w',
          description: 'Works.',
          tools: ['tick'],
          script: [
            {
              when: '.',
              steps: [{ call: 'tick', args: { n: 1 } }, { call: 'tick', args: { n: 2 } }, { reply: 'w done' }],
            },
          ],
        },
      ],
      { tools: [countingTool('tick')] },
    );
    engines.push(t);
    const run = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const before = readSession(t.engine.store, run.id);
    const worker = before.conversations.find((c) => c.row.agent === 'w')!;
    // The cut: just after the worker's first tool result, while the lead waits for it.
    const cut = worker.entries.find((e) => e.kind === 'tool_result')!.seq;
    const fork = await t.engine.fork(run.id, { atSeq: cut, label: 'retry', createdBy: 'test', checkout: true });
    const rewound = readSession(t.engine.store, run.id);
    expect(rewound.session.headBranch).toBe(fork.branch.id);
    expect(rewound.session.status).toBe('paused');
    expect(rewound.entries.every((e) => e.seq <= cut)).toBe(true);
    expect(rewound.conversations.find((c) => c.row.agent === 'lead')!.phase).toBe('waiting');
    // Continuing the new branch finishes the worker's conversation from the cut, then the lead's.
    const resumed = await t.engine.attach(run.id);
    resumed.resume();
    expect(await resumed.idle()).toBe('finished');
    const after = readSession(t.engine.store, run.id);
    expect(after.conversations.map((c) => c.entries.map((e) => e.kind))).toEqual(
      before.conversations.map((c) => c.entries.map((e) => e.kind)),
    );
    expect(after.answer).toBe('lead done: w done');
    // The old branch is as it was, and can be checked out again.
    const old = await t.engine.checkout(run.id, 'main');
    expect(old.status).toBe('finished');
    expect(readSession(t.engine.store, run.id).entries.map((e) => e.id)).toEqual(before.entries.map((e) => e.id));
  });

  it('a fork never runs an effectful call again: the new branch takes its recorded result, and the fork lists it', async () => {
    const pay = countingTool('pay', { effect: 'effectful' });
    const t = await testEngine(
      [
        {
          id: 'p',
          description: 'Pays.',
          tools: ['pay'],
          script: [{ when: '.', steps: [{ call: 'pay', args: { n: 5 } }, { reply: 'paid' }] }],
        },
      ],
      { tools: [pay] },
    );
    engines.push(t);
    const run = t.engine.start({ agent: 'p', message: 'pay', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    expect(pay.calls).toHaveLength(1);
    const entries = readSession(t.engine.store, run.id).entries;
    const waiting = entries.find((e) => e.kind === 'waiting')!;
    const fork = await t.engine.fork(run.id, { atSeq: waiting.seq, createdBy: 'test', checkout: true });
    expect(fork.effects).toEqual([]); // the call itself is before the cut; only its result is after
    const resumed = await t.engine.attach(run.id);
    resumed.resume();
    expect(await resumed.idle()).toBe('finished');
    expect(pay.calls).toHaveLength(1);
    const result = readSession(t.engine.store, run.id).entries.find((e) => e.kind === 'tool_result')!;
    expect(result.payload).toMatchObject({ status: 'ok', tool: 'pay' });

    // Forking before the call: the payment on the old branch is reported as not undone.
    const first = entries[0]!;
    const back = await t.engine.fork(run.id, { from: 'main', atSeq: first.seq, createdBy: 'test' });
    expect(back.effects).toEqual([expect.objectContaining({ tool: 'pay', status: 'done' })]);
  });

  it('offers an effect after the fork point for compensation, and runs the compensating action once when asked', async () => {
    const { defineTool } = await import('../../src/tools/define.ts');
    const { z } = await import('zod');
    const paid: number[] = [];
    const refunded: { amount: number; key: string }[] = [];
    const pay = defineTool({
      name: 'pay',
      description: 'Pays.',
      input: z.object({ n: z.number() }),
      effect: 'effectful',
      run: ({ n }) => (paid.push(n), { paid: n }),
      compensate: ({ n }, result, ctx) => (refunded.push({ amount: n, key: ctx.key }), { refunded: n, of: result }),
    });
    const t = await testEngine(
      [
        {
          id: 'p',
          description: 'Pays.',
          tools: ['pay'],
          script: [{ when: '.', steps: [{ call: 'pay', args: { n: 5 } }, { reply: 'paid' }] }],
        },
      ],
      { tools: [pay] },
    );
    engines.push(t);
    const run = t.engine.start({ agent: 'p', message: 'pay', source: 'api', options: t.options() });
    await run.idle();
    const first = readSession(t.engine.store, run.id).entries[0]!;
    const fork = await t.engine.fork(run.id, { atSeq: first.seq, createdBy: 'test', checkout: true });
    expect(fork.effects).toEqual([expect.objectContaining({ tool: 'pay', status: 'done', compensable: true })]);
    const key = fork.effects[0]!.key;
    expect(await t.engine.compensate(run.id, key, 'test')).toEqual({
      tool: 'pay',
      status: 'ok',
      output: { refunded: 5, of: { paid: 5 } },
    });
    expect(refunded).toEqual([{ amount: 5, key }]);
    await expect(t.engine.compensate(run.id, key, 'test')).rejects.toThrow(/compensated already/);
    expect(refunded).toHaveLength(1);
    // Claimed before it ran, then its outcome: a second request sees either and refuses.
    const events = t.engine.store.log.read(0, { session: run.id, types: ['effect.compensated'] });
    expect(events.map((e) => e.payload)).toEqual([
      expect.objectContaining({ key, status: 'started' }),
      expect.objectContaining({ key, tool: 'pay', status: 'ok', by: 'test' }),
    ]);
    await expect(t.engine.compensate(run.id, 'e_nope', 'test')).rejects.toThrow(/no call with key/);
  });

  it('a fork with persona overrides gives one agent another system prompt and tools, on that branch only', async () => {
    const { ScriptedProvider } = await import('../../src/models/scripted/provider.ts');
    const seen: { system: string; tools: string[] }[] = [];
    const inner = new ScriptedProvider({ latencyMs: 0 });
    const capturing = {
      id: 'scripted',
      simulated: true,
      complete: (request: Parameters<typeof inner.complete>[0], options: Parameters<typeof inner.complete>[1]) => {
        seen.push({
          system: (request.messages[0] as { content: string }).content,
          tools: request.tools.map((t) => t.name),
        });
        return inner.complete(request, options);
      },
    };
    const t = await testEngine(
      [{ id: 'w', description: 'Works.', tools: ['a', 'b'], script: [{ when: '.', steps: [{ reply: 'ok' }] }] }],
      {
        tools: [countingTool('a'), countingTool('b')],
        load: { configure: (providers) => providers.register(capturing) },
      },
    );
    engines.push(t);
    const run = t.engine.start({ agent: 'w', message: 'hi', source: 'api', options: t.options() });
    await run.idle();
    const first = readSession(t.engine.store, run.id).entries[0]!;
    await t.engine.fork(run.id, {
      atSeq: first.seq,
      overrides: { personas: { w: { system: 'You are {{id}}, terse.', tools: ['b'] } } },
      createdBy: 'test',
      checkout: true,
    });
    const resumed = await t.engine.attach(run.id);
    resumed.resume();
    await resumed.idle();
    expect(seen).toHaveLength(2);
    expect(seen[0]!.tools).toEqual(expect.arrayContaining(['a', 'b']));
    expect(seen[1]!.tools).toContain('b');
    expect(seen[1]!.tools).not.toContain('a');
    expect(seen[1]!.system).toMatch(/^You are w, terse\./);
    expect(seen[0]!.system).not.toContain('terse');
    await expect(
      t.engine.fork(run.id, { overrides: { personas: { nobody: { tools: [] } } }, createdBy: 'test' }),
    ).rejects.toThrow(/unknown agent 'nobody'/);
  });

  it('forking the live head continues in the running session, on the new branch, with its overrides', async () => {
    const t = await testEngine([{ id: 'w', description: 'W.', script: [{ when: '.', steps: [{ reply: 'one' }] }] }]);
    engines.push(t);
    const run = t.engine.start({ agent: 'w', message: 'hi', source: 'api', options: t.options() });
    await run.idle();
    const mainBranch = run.branch;
    const before = readSession(t.engine.store, run.id).entries.map((e) => e.id);
    const fork = await t.engine.fork(run.id, {
      overrides: { temperature: 0.7 },
      label: 'warmer',
      createdBy: 'test',
      checkout: true,
    });
    // The same runtime goes on, now writing to the new branch.
    expect(t.engine.get(run.id)).toBe(run);
    expect(run.branch).toBe(fork.branch.id);
    await run.send('again');
    expect(await run.idle()).toBe('finished');
    const now = readSession(t.engine.store, run.id);
    expect(now.session.headBranch).toBe(fork.branch.id);
    expect(now.entries.slice(0, before.length).map((e) => e.id)).toEqual(before);
    expect(now.entries.length).toBeGreaterThan(before.length);
    expect(branchEntries(t.engine.store, run.id, mainBranch).map((e) => e.id)).toEqual(before);
    const calls = t.engine.store.calls.modelCalls({ session: run.id });
    expect((calls.at(-1)!.request.params as { temperature: number }).temperature).toBe(0.7);
    expect(calls.at(-1)!.branch).toBe(fork.branch.id);
  });

  it("an agent's own temperature beats the every-agent one; a fork's every-agent value replaces the parent's own ones", async () => {
    const t = await testEngine([{ id: 'w', description: 'W.', script: [{ when: '.', steps: [{ reply: 'one' }] }] }]);
    engines.push(t);
    const options = t.options({ temperature: 0.1 });
    const overrides = { personas: { w: { temperature: 0.9 } } };
    const run = t.engine.start({ agent: 'w', message: 'hi', source: 'api', options, overrides });
    await run.idle();
    // The live head, forked with an every-agent temperature: the runtime cannot keep w's own 0.9 in memory.
    const fork = await t.engine.fork(run.id, { overrides: { temperature: 0.4 }, createdBy: 'test', checkout: true });
    expect(fork.branch.overrides).toEqual({ temperature: 0.4 });
    const resumed = t.engine.get(run.id) ?? (await t.engine.attach(run.id));
    await resumed.send('again');
    expect(await resumed.idle()).toBe('finished');
    const temperatures = t.engine.store.calls
      .modelCalls({ session: run.id })
      .map((c) => (c.request.params as { temperature: number }).temperature);
    expect(temperatures).toEqual([0.9, 0.4]);
  });

  it("never cuts a model response in two, keeps a parent branch's overrides, and writes nothing when the checkout is refused", async () => {
    const { hostname } = await import('node:os');
    const t = await testEngine([{ id: 'w', description: 'W.', script: [{ when: '.', steps: [{ reply: 'one' }] }] }]);
    engines.push(t);
    const run = t.engine.start({ agent: 'w', message: 'hi', source: 'api', options: t.options() });
    await run.idle();
    const entries = readSession(t.engine.store, run.id).entries;
    expect(entries.map((e) => e.kind)).toEqual(['user_message', 'assistant_message', 'finished']);
    // A cut at the reply's text moves to the end of that response: the branch is finished, not stuck deciding.
    const fork = await t.engine.fork(run.id, {
      atSeq: entries[1]!.seq,
      overrides: { temperature: 1.5 },
      createdBy: 'test',
      checkout: true,
    });
    expect(fork.branch.forkSeq).toBe(entries[2]!.seq);
    expect(t.engine.store.sessions.resolve(run.id).status).toBe('finished');
    // A fork of that branch keeps its temperature unless it says otherwise.
    const child = await t.engine.fork(run.id, { overrides: { model: 'scripted/slow' }, createdBy: 'test' });
    expect(child.branch.overrides).toEqual({ temperature: 1.5, model: 'scripted/slow' });
    // Another live process drives the session: a fork to check out is refused before anything is written.
    const count = t.engine.store.sessions.branches(run.id).length;
    withRawDb(t.engine.store.path, (db) =>
      db
        .prepare(
          'INSERT OR REPLACE INTO leases (session_id, owner, host, pid, acquired_at, heartbeat_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
        )
        .run(run.id, 'other', hostname(), process.ppid, Date.now(), Date.now(), Date.now() + 60_000),
    );
    await expect(t.engine.fork(run.id, { createdBy: 'test', checkout: true })).rejects.toThrow(/being driven by pid/);
    expect(t.engine.store.sessions.branches(run.id)).toHaveLength(count);
  });

  it('a fork with overrides runs its steps with another temperature, leaving the session options alone', async () => {
    const t = await testEngine([{ id: 'w', description: 'W.', script: [{ when: '.', steps: [{ reply: 'one' }] }] }]);
    engines.push(t);
    const run = t.engine.start({ agent: 'w', message: 'hi', source: 'api', options: t.options() });
    await run.idle();
    const first = readSession(t.engine.store, run.id).entries[0]!;
    const fork = await t.engine.fork(run.id, {
      atSeq: first.seq,
      overrides: { temperature: 1.3 },
      createdBy: 'test',
      checkout: true,
    });
    const resumed = await t.engine.attach(run.id);
    resumed.resume();
    expect(await resumed.idle()).toBe('finished');
    const calls = t.engine.store.calls.modelCalls({ session: run.id });
    expect(
      calls.map((c) => [c.branch === fork.branch.id, (c.request.params as { temperature: number }).temperature]),
    ).toEqual([
      [false, 0],
      [true, 1.3],
    ]);
    expect(t.engine.store.sessions.resolve(run.id).options.temperature).toBeUndefined();
  });
});

describe('branch commands', () => {
  it('conversation rewind <session> <step>, session branches and checkout, from the command line', async () => {
    const { spawnSync } = await import('node:child_process');
    const { childEnv } = await import('../helpers/child-env.ts');
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-rewind-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const ROOT = new URL('../..', import.meta.url).pathname;
    const p2tui = (...args: string[]) =>
      spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args, '--db', join(dir, 'p.db')], {
        cwd: ROOT,
        encoding: 'utf8',
        env: childEnv(),
        timeout: 60_000,
      });
    const run = p2tui('run', 'agent_helper', 'weather in Oslo', '--approval', 'deny', '--temperature', '0', '--json');
    const id = (JSON.parse(run.stdout) as { session: string }).session;
    const rewind = p2tui('conversation', 'rewind', id, '0');
    expect(rewind.stderr).toBe('');
    expect(rewind.stdout).toMatch(
      new RegExp(`rewound ${id} to step #0 \\(seq \\d+\\): branch b_\\w+ checked out, b_\\w+ kept`),
    );
    const list = p2tui('session', 'branches', id);
    expect(list.stdout).toMatch(/^ {2}b_\w+ +main +\(root\)/m);
    expect(list.stdout).toMatch(/^\* b_\w+ +rewind to #0 +b_\w+ @ seq \d+ +1 entries/m);
    const shown = JSON.parse(p2tui('session', 'show', id, '--json').stdout) as {
      status: string;
      conversations: { entries: number }[];
    };
    expect(shown).toMatchObject({ status: 'paused', conversations: [{ entries: 1 }] });
    const resumed = p2tui('session', 'resume', id);
    expect(resumed.status).toBe(0);
    expect(resumed.stdout).toContain('✓ finished');
    const back = p2tui('session', 'checkout', id, 'main');
    expect(back.stdout).toMatch(/checked out b_\w+ \(main\); session finished/);
    const bad = p2tui('session', 'rewind', id, '99');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/conversation agent_helper has steps #0 to #\d+; there is no #99/);
  });
});

describe('diffs of branches and artifacts', () => {
  it('session diff finds no difference after a faithful rewind, then names where a branch diverges; artifacts diff compares JSON by content', async () => {
    const { spawnSync } = await import('node:child_process');
    const { childEnv } = await import('../helpers/child-env.ts');
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-diff-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const db = join(dir, 'p.db');
    const ROOT = new URL('../..', import.meta.url).pathname;
    const p2tui = (args: string[], input = '') =>
      spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args, '--db', db], {
        cwd: ROOT,
        encoding: 'utf8',
        env: childEnv(),
        input,
        timeout: 60_000,
      });
    const id = (
      JSON.parse(
        p2tui(['run', 'agent_helper', 'weather in Oslo', '--approval', 'deny', '--temperature', '0', '--json']).stdout,
      ) as { session: string }
    ).session;
    expect(p2tui(['session', 'rewind', id, '0']).status).toBe(0);
    expect(p2tui(['session', 'resume', id]).status).toBe(0);
    const same = p2tui(['session', 'diff', id]);
    expect(same.stdout).toMatch(/\(main\) → b_\w+ \(rewind to #0\): no differences/);
    // Another question on the new branch: it diverges from main after main's last entry.
    p2tui(['chat', '--session', id], 'weather in Paris\n/exit\n');
    const differs = p2tui(['session', 'diff', id, '--json']);
    const json = JSON.parse(differs.stdout) as { same: boolean; divergesAt: string; answers: { a: string; b: string } };
    expect(json.same).toBe(false);
    expect(json.divergesAt).toMatch(/^agent_helper at #\d+$/);
    expect(json.answers.b).toContain('Paris');
    const text = p2tui(['session', 'diff', id, 'main']);
    expect(text.stdout).toMatch(/^\+user_message weather in Paris$/m);

    // Two JSON artifacts that differ in one value and in key order.
    const s = new Store({ path: db });
    const [a, b] = s.write(() => [
      s.artifacts.put(
        '{"city":"Oslo","temp":3,"wind":5}',
        { mime: 'application/json', kind: 'tool_output', name: 'a.json', session: id },
        1,
      ),
      s.artifacts.put(
        '{"wind":5,"temp":4,"city":"Oslo"}',
        { mime: 'application/json', kind: 'tool_output', name: 'b.json', session: id },
        2,
      ),
    ]);
    s.close();
    const listed = p2tui(['artifacts', 'list', id]);
    expect(listed.stdout).toMatch(/a\.json\s+tool_output\s+application\/json/);
    const diff = p2tui(['artifacts', 'diff', a!.hash.slice(0, 10), b!.hash.slice(0, 10)]);
    expect(diff.stdout.split('\n').filter((l) => /^[-+] /.test(l))).toEqual(['-  "temp": [-3-],', '+  "temp": {+4+},']);
    expect(diff.status).toBe(1);
    // Entries are artifacts too (not copied): two tool results of the two branches, by entry id.
    const entries = JSON.parse(p2tui(['artifacts', 'list', id, '--entries', '--json']).stdout) as {
      hash: string;
      kind: string;
    }[];
    const results = entries.filter((e) => e.kind === 'tool_result');
    expect(results.length).toBeGreaterThanOrEqual(2);
    const shown = p2tui(['artifacts', 'show', results.at(-1)!.hash]);
    expect(shown.stdout).toContain('Paris');
    const between = p2tui(['artifacts', 'diff', results[0]!.hash, results.at(-1)!.hash]);
    expect(between.stdout).toMatch(/^-.*Oslo/m);
    expect(between.stdout).toMatch(/^\+.*Paris/m);
  });
});

describe('rewinds in memory', () => {
  const engines: TestEngine[] = [];
  afterEach(() => {
    for (const e of engines.splice(0)) e.close();
  });

  /** What a conversation is, as far as the next steps can tell: state, transcript, answers, calls, children. */
  function projectionOf(conversations: ReadonlyMap<string, ConversationRuntime>): unknown {
    return [...conversations.values()]
      .sort((a, b) => a.id.localeCompare(b.id))
      .map((c) => ({
        id: c.id,
        state: c.state,
        headSeq: c.headSeq,
        steps: c.steps,
        lastAnswer: c.lastAnswer,
        messages: JSON.parse(JSON.stringify(c.transcript.messages)) as unknown,
        hash: c.transcript.requestHash({}),
        tokens: c.transcript.estimatedTokens,
        task: [c.transcript.taskIndex, c.transcript.round, c.transcript.entries, c.transcript.through],
        parentCallId: c.parentCallId,
        questions: [...c.questions].sort(),
        effectful: [...c.effectfulCalls].sort(),
        keys: c.state.turn.map((t) => c.callKeys.get(t.callId)),
        children: [...c.childrenByAgent].map(([agent, list]) => [agent, list.map((x) => x.id)]).sort(),
        childByCall: c.state.turn.map((t) => c.childByCall.get(t.callId)?.id ?? null),
      }));
  }

  it('a rewind of a session driven here goes back in memory, to exactly what a rebuild from the log gives, at every cut', async () => {
    const pay = countingTool('pay', { effect: 'effectful' });
    const t = await testEngine(
      [
        {
          id: 'lead',
          description: 'Leads.',
          tools: ['tick', 'pay'],
          agents: ['w'],
          script: [
            { when: 'again', steps: [{ delegate: 'w', message: 'more' }, { reply: 'second: {{result}}' }] },
            {
              when: '.',
              steps: [
                {
                  parallel: [
                    { call: 'tick', args: { n: 1 } },
                    { delegate: 'w', message: 'work' },
                  ],
                },
                { ask: 'Pay now?' },
                { call: 'pay', args: { n: 3 } },
                { reply: 'lead done: {{result}}' },
              ],
            },
          ],
        },
        {
          id: 'w',
          description: 'Works.',
          tools: ['tick'],
          script: [
            {
              when: '.',
              steps: [
                { call: 'tick', args: { n: 2 } },
                { say: 'halfway', call: 'tick', args: { n: 3 } },
                { reply: 'w done' },
              ],
            },
          ],
        },
      ],
      { tools: [countingTool('tick'), pay] },
    );
    engines.push(t);
    const run = t.engine.start({
      agent: 'lead',
      message: 'go',
      source: 'api',
      options: t.options({ approval: 'approve' }),
    });
    expect(await run.idle()).toBe('finished');
    await run.send('again');
    expect(await run.idle()).toBe('finished');
    const main = run.branch;
    const cuts = branchEntries(t.engine.store, run.id, main).map((e) => e.seq);
    const kit = new PersonaKit(t.engine.ports.personas, t.engine.ports.tools);
    const persona = (id: string) => t.engine.ports.personas.get(id);
    const rebuilt = (): unknown => {
      const row = t.engine.store.sessions.require(run.id);
      return projectionOf(rebuildConversations(t.engine.store, kit, row, persona).conversations);
    };
    const paid = branchEntries(t.engine.store, run.id, main).find(
      (e) => e.kind === 'tool_call' && e.payload.tool === 'pay',
    )!.seq;
    for (const cut of cuts.slice(0, -1)) {
      const payments = pay.calls.length;
      await t.engine.checkout(run.id, main);
      const live = await t.engine.attach(run.id);
      const fork = await t.engine.fork(run.id, { atSeq: cut, createdBy: 'test', checkout: true });
      // The same runtime goes on (nothing was loaded), on the new branch, and holds what a load would build.
      expect(t.engine.get(run.id)).toBe(live);
      expect(live.branch).toBe(fork.branch.id);
      expect(projectionOf(live.projection), `cut at seq ${cut}`).toEqual(rebuilt());
      // Continuing from the cut works and still agrees with the log.
      live.resume();
      const status = await live.idle();
      expect(['finished', 'waiting']).toContain(status);
      expect(projectionOf(live.projection), `after continuing from seq ${cut}`).toEqual(rebuilt());
      // A branch that keeps the payment takes its recorded result; one cut before it decides (and pays) anew.
      expect(pay.calls.length - payments, `payments after a cut at seq ${cut}`).toBe(cut >= paid ? 0 : 1);
    }
  });

  it('a refused fork leaves the live session alone; a seq between entries cuts at the entry before it', async () => {
    const t = await testEngine([
      {
        id: 'lead',
        description: 'Delegates.',
        agents: ['w'],
        script: [{ when: '.', steps: [{ delegate: 'w', message: 'work' }, { reply: 'lead done: {{result}}' }] }],
      },
      { id: 'w', description: 'Works.', script: [{ when: '.', steps: [{ reply: 'w done' }] }] },
    ]);
    engines.push(t);
    const run = t.engine.start({ agent: 'lead', message: 'go', source: 'api', options: t.options() });
    expect(await run.idle()).toBe('finished');
    const newest = t.engine.store.log.lastSeqOf(run.id);
    await expect(t.engine.fork(run.id, { atSeq: newest + 50, createdBy: 'test', checkout: true })).rejects.toThrow(
      /its newest entry is seq/,
    );
    expect(t.engine.get(run.id)).toBe(run);
    // The child's conversation.created lies between the lead's `waiting` and the child's task: it means the waiting.
    const created = t.engine.store.log
      .read(0, { session: run.id, types: ['conversation.created'] }, 10)
      .find((e) => e.type === 'conversation.created' && e.payload.parent !== null)!;
    const fork = await t.engine.fork(run.id, { atSeq: created.seq, createdBy: 'test', checkout: true });
    expect(t.engine.get(run.id)).toBe(run);
    const kit = new PersonaKit(t.engine.ports.personas, t.engine.ports.tools);
    const persona = (id: string) => t.engine.ports.personas.get(id);
    const rebuilt = rebuildConversations(t.engine.store, kit, t.engine.store.sessions.require(run.id), persona);
    expect([...run.projection.keys()].sort()).toEqual([...rebuilt.conversations.keys()].sort());
    // The cut keeps the child's task (a caller never waits on a child that was not asked), and it runs on.
    expect(fork.branch.forkSeq).toBeGreaterThan(created.seq);
    run.resume();
    expect(await run.idle()).toBe('finished');
    expect(run.answer).toBe('lead done: w done');
  });

  it('a rewind further back than the marks a conversation keeps loads the branch from the log instead, with the same result', async () => {
    const t = await testEngine(
      [
        {
          id: 'looper',
          description: 'Loops.',
          tools: ['tick'],
          policies: { max_steps: 5_000 },
          script: [{ when: '.', steps: [{ call: 'tick', args: { n: 1 }, repeat: 3_000 }, { reply: 'done' }] }],
        },
      ],
      {
        tools: [countingTool('tick')],
      },
    );
    engines.push(t);
    const run = t.engine.start({
      agent: 'looper',
      message: 'go',
      source: 'api',
      options: t.options({ maxSteps: 10_000 }),
    });
    expect(await run.idle()).toBe('finished');
    const results = branchEntries(t.engine.store, run.id, run.branch).filter((e) => e.kind === 'tool_result');
    // Recent: in memory, the same runtime.
    await t.engine.fork(run.id, { atSeq: results.at(-5)!.seq, createdBy: 'test', checkout: true });
    expect(t.engine.get(run.id)).toBe(run);
    // Far back (beyond the 8,192 marks kept): the runtime lets go and the branch is rebuilt from the log.
    const far = results[10]!.seq;
    const fork = await t.engine.fork(run.id, { atSeq: far, createdBy: 'test', checkout: true });
    expect(t.engine.get(run.id)).toBeUndefined();
    const again = await t.engine.attach(run.id);
    expect(again.branch).toBe(fork.branch.id);
    again.resume();
    expect(await again.idle()).toBe('finished');
    const ticks = branchEntries(t.engine.store, run.id, fork.branch.id).filter((e) => e.kind === 'tool_result');
    expect(ticks).toHaveLength(3_000);
  });
});
