import { afterEach, describe, expect, it, vi } from 'vitest';
import { createHash } from 'node:crypto';
import { branchEntries } from '../../src/engine/branching.ts';
import type { ConversationRuntime } from '../../src/engine/conversation.ts';
import { PersonaKit } from '../../src/engine/persona-kit.ts';
import { rebuildConversations, rebuildFromLog } from '../../src/engine/rebuild.ts';
import { restoreConversations } from '../../src/engine/snapshot.ts';
import { countingTool } from '../helpers/tools.ts';
import { withRawDb } from '../helpers/raw-db.ts';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';

/**
 * Conversation snapshots (issue 22, target 4): a process that loads a session restores its conversations from
 * snapshots plus the entries after them, and must get exactly what a replay of the whole log gives; a snapshot that
 * does not match the log is ignored.
 */
const engines: TestEngine[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.close();
  vi.unstubAllEnvs();
});

/** What a conversation is, as far as the next steps can tell (as the in-memory rewind tests compare it). */
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
      parent: c.parent?.id ?? null,
      questions: [...c.questions].sort(),
      effectful: [...c.effectfulCalls].sort(),
      keys: [...c.callKeys].sort(),
      children: [...c.childrenByAgent].map(([agent, list]) => [agent, list.map((x) => x.id)]).sort(),
      childByCall: [...c.childByCall].map(([call, child]) => [call, child.id]).sort(),
    }));
}

/** A lead that runs a tool and a delegation in parallel, asks, pays (effectful), answers; then delegates again. */
async function teamSession(reuse = false): Promise<{
  t: TestEngine;
  id: string;
  main: string;
  pay: ReturnType<typeof countingTool>;
}> {
  const pay = countingTool('pay', { effect: 'effectful' });
  const t = await testEngine(
    [
      {
        id: 'lead',
        description: 'Leads.',
        tools: ['tick', 'pay'],
        agents: ['w'],
        // Reused: the second delegation goes to the same child, which then answers another call of its parent.
        policies: { reuse_children: reuse },
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
  // Stopping the runtime writes the snapshots of what it holds (every entry counts with P2TUI_SNAPSHOT_EVERY=1).
  run.detach();
  return { t, id: run.id, main, pay };
}

function loaders(t: TestEngine, id: string) {
  const kit = new PersonaKit(t.engine.ports.personas, t.engine.ports.tools);
  const persona = (agent: string) => t.engine.ports.personas.get(agent);
  const rowOn = (branch: string) => ({ ...t.engine.store.sessions.require(id), headBranch: branch });
  return {
    restored: (branch: string) => restoreConversations(t.engine.store, kit, rowOn(branch), persona),
    fromLog: (branch: string) => rebuildFromLog(t.engine.store, kit, rowOn(branch), persona),
    rebuilt: (branch: string) => rebuildConversations(t.engine.store, kit, rowOn(branch), persona),
  };
}

describe('conversation snapshots', () => {
  it.each([
    ['new children', false],
    ['a reused child', true],
  ])(
    'a cold load at every cut of a session (delegation to %s, question, parallel and effectful calls) equals a replay of the log, and goes on the same',
    async (_, reuse) => {
      vi.stubEnv('P2TUI_SNAPSHOT_EVERY', '1');
      const { t, id, main, pay } = await teamSession(reuse);
      const { store } = t.engine;
      const rows = store.snapshots.list(id);
      // One snapshot per conversation (the lead and each child it delegated to), at its newest entry.
      expect(new Set(rows.map((r) => r.conversation)).size).toBe(store.sessions.conversations(id).length);
      const { restored, fromLog } = loaders(t, id);
      const entries = branchEntries(store, id, main);
      const paid = entries.find((e) => e.kind === 'tool_call' && e.payload.tool === 'pay')!.seq;
      for (const { seq: cut } of entries.slice(0, -1)) {
        const fork = await t.engine.fork(id, { from: main, atSeq: cut, createdBy: 'test' });
        const branch = fork.branch.id;
        const fromSnapshots = restored(branch);
        // The snapshots are used (not a silent fall back to the replay) and give what the replay gives.
        expect(fromSnapshots, `snapshots used for a cut at seq ${cut}`).toBeDefined();
        const replayed = fromLog(branch);
        expect(projectionOf(fromSnapshots!.conversations), `cut at seq ${cut}`).toEqual(
          projectionOf(replayed.conversations),
        );
        expect(fromSnapshots!.totalSteps).toBe(replayed.totalSteps);
        // Checked out and driven by a process that loads it (snapshots), it goes on as one built from the log would.
        const payments = pay.calls.length;
        await t.engine.checkout(id, branch);
        const runtime = await t.engine.attach(id);
        runtime.resume();
        expect(['finished', 'waiting']).toContain(await runtime.idle());
        expect(projectionOf(runtime.projection), `after continuing from seq ${cut}`).toEqual(
          projectionOf(fromLog(branch).conversations),
        );
        expect(pay.calls.length - payments, `payments after a cut at seq ${cut}`).toBe(cut >= paid ? 0 : 1);
        runtime.detach();
      }
    },
  );

  it('a session waiting on its question loads from the snapshot of its head as from the log, and goes on the same once answered', async () => {
    vi.stubEnv('P2TUI_SNAPSHOT_EVERY', '1');
    const t = await testEngine([
      {
        id: 'lead',
        description: 'Asks.',
        agents: ['w'],
        script: [
          { when: '.', steps: [{ delegate: 'w', message: 'work' }, { ask: 'Name?' }, { reply: 'hi {{result}}' }] },
        ],
      },
      { id: 'w', description: 'Works.', script: [{ when: '.', steps: [{ reply: 'w done' }] }] },
    ]);
    engines.push(t);
    const run = t.engine.start({
      agent: 'lead',
      message: 'go',
      source: 'api',
      options: t.options({ approval: 'ask' }),
    });
    expect(await run.idle()).toBe('waiting');
    const main = run.branch;
    run.detach();
    const { restored, fromLog } = loaders(t, run.id);
    const loaded = restored(main);
    expect(loaded).toBeDefined();
    expect(loaded!.root.questions.size).toBe(1);
    expect(projectionOf(loaded!.conversations)).toEqual(projectionOf(fromLog(main).conversations));
    const runtime = await t.engine.attach(run.id);
    const [question] = runtime.pendingQuestions();
    await runtime.respond(question!.callId, 'Ada');
    expect(await runtime.idle()).toBe('finished');
    expect(runtime.answer).toBe('hi Ada');
    expect(projectionOf(runtime.projection)).toEqual(projectionOf(fromLog(main).conversations));
  });

  it('a snapshot whose seq, entry or body does not match the log is ignored, never trusted', async () => {
    vi.stubEnv('P2TUI_SNAPSHOT_EVERY', '1');
    const { t, id, main } = await teamSession();
    const { store } = t.engine;
    const { restored, fromLog, rebuilt } = loaders(t, id);
    const root = store.sessions.require(id).rootConversation;
    const truth = projectionOf(fromLog(main).conversations);
    expect(restored(main)).toBeDefined();
    const tamper = (sql: string, ...params: unknown[]): void =>
      withRawDb(store.path, (raw) => {
        raw.prepare(sql).run(...params);
      });
    const original = withRawDb(store.path, (raw) =>
      raw.prepare('SELECT * FROM conversation_snapshots WHERE conversation_id = ?').get(root),
    ) as Record<string, string | number> & { seq: number; body: string };
    // Puts the root's row back as it was written.
    const restore = (): void => {
      tamper('DELETE FROM conversation_snapshots WHERE conversation_id = ?', root);
      const columns = Object.keys(original);
      tamper(
        `INSERT INTO conversation_snapshots (${columns.join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`,
        ...columns.map((c) => original[c]),
      );
    };
    const forged = original.body.replace(/"lastAnswer":"[^"]*"/, '"lastAnswer":"forged"');
    expect(forged).not.toBe(original.body);
    const cases: [string, () => void][] = [
      [
        'another entry id',
        () => tamper('UPDATE conversation_snapshots SET entry_id = ? WHERE conversation_id = ?', 'e_other', root),
      ],
      [
        'a seq off by one',
        () => tamper('UPDATE conversation_snapshots SET seq = seq - 1 WHERE conversation_id = ?', root),
      ],
      [
        'a body edited, its hash not',
        () => tamper('UPDATE conversation_snapshots SET body = ? WHERE conversation_id = ?', forged, root),
      ],
      [
        'a body edited with its hash, naming another seq',
        () => {
          const moved = original.body.replace(`"headSeq":${original.seq},`, `"headSeq":${original.seq - 1},`);
          const hash = createHash('sha256')
            .update(moved)
            .update('\n')
            .update(String(original['messages']))
            .digest('hex');
          tamper('UPDATE conversation_snapshots SET body = ?, hash = ? WHERE conversation_id = ?', moved, hash, root);
        },
      ],
      [
        'its messages edited, the hash not',
        () => {
          tamper(
            'UPDATE conversation_snapshots SET messages = replace(messages, ?, ?) WHERE conversation_id = ?',
            '"go"',
            '"forged"',
            root,
          );
          const stored = withRawDb(store.path, (raw) =>
            raw.prepare('SELECT messages FROM conversation_snapshots WHERE conversation_id = ?').get(root),
          ) as { messages: string };
          expect(stored.messages).toContain('"forged"');
        },
      ],
      [
        'another version',
        () => tamper('UPDATE conversation_snapshots SET version = 99 WHERE conversation_id = ?', root),
      ],
      [
        'another first entry (as if the conversation began after the cut)',
        () => tamper('UPDATE conversation_snapshots SET first_seq = seq + 1000 WHERE conversation_id = ?', root),
      ],
    ];
    for (const [what, change] of cases) {
      change();
      // The root's snapshot is unusable: the load replays it from the log, and what it builds is the log's.
      const loaded = rebuilt(main);
      expect(projectionOf(loaded.conversations), what).toEqual(truth);
      expect(loaded.root.lastAnswer, what).not.toBe('forged');
      restore();
      expect(projectionOf(restored(main)!.conversations), `${what}, put back`).toEqual(truth);
    }
  });

  it('without P2TUI_SNAPSHOT_EVERY a short session writes none; a long one does, and a rewind past its stored marks replays the log', async () => {
    const t = await testEngine(
      [
        {
          id: 'looper',
          description: 'Loops.',
          tools: ['tick'],
          policies: { max_steps: 1000 },
          script: [
            { when: '^go$', steps: [{ call: 'tick', args: { n: 1 }, repeat: 199 }, { reply: 'done' }] },
            { when: '.', steps: [{ reply: 'ok' }] },
          ],
        },
      ],
      { tools: [countingTool('tick')] },
    );
    engines.push(t);
    const { store } = t.engine;
    const short = t.engine.start({
      agent: 'looper',
      message: 'hi',
      source: 'api',
      options: t.options({ maxSteps: 1000 }),
    });
    expect(await short.idle()).toBe('finished');
    short.detach();
    expect(store.snapshots.list(short.id)).toEqual([]);
    const run = t.engine.start({
      agent: 'looper',
      message: 'go',
      source: 'api',
      options: t.options({ maxSteps: 1000 }),
    });
    expect(await run.idle()).toBe('finished');
    const main = run.branch;
    run.detach();
    expect(store.snapshots.list(run.id)).toHaveLength(1);
    const { restored, fromLog } = loaders(t, run.id);
    const entries = branchEntries(store, run.id, main);
    expect(entries.length).toBeGreaterThanOrEqual(600);
    for (const [cut, usable] of [
      [entries.at(-40)!.seq, true],
      [entries[10]!.seq, false],
    ] as const) {
      const fork = await t.engine.fork(run.id, { from: main, atSeq: cut, createdBy: 'test' });
      const fromSnapshots = restored(fork.branch.id);
      expect(fromSnapshots !== undefined, `snapshot used for the cut at seq ${cut}`).toBe(usable);
      const loaded = rebuildConversations(
        store,
        new PersonaKit(t.engine.ports.personas, t.engine.ports.tools),
        { ...store.sessions.require(run.id), headBranch: fork.branch.id },
        (agent) => t.engine.ports.personas.get(agent),
      );
      expect(projectionOf(loaded.conversations)).toEqual(projectionOf(fromLog(fork.branch.id).conversations));
    }
  });
});
