import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { spawn } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { MAIN, runCli, type CliResult } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { haveRedis, redisForSuite } from '../helpers/host-tools.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * Issue 17, point 1: an evaluator's `agents:` decides what it scores in every path — the automatic trigger,
 * `eval run`, a rollout spec's judge.evaluators and the aggregations (`eval top`). The lead delegates to the writer;
 * only the writer says "zebra", so an assertion `contains: zebra` scores the lead 0 and the writer 1.
 */

const ZEBRA = [{ contains: 'zebra' }];
const SECRET = 'e5'.repeat(32);

function evaluators(extra: Record<string, unknown>[] = []): string {
  return stringify({
    judge: {
      evaluators: [
        // Runs by itself when a writer's conversation finishes.
        { id: 'auto_writer', kind: 'assert', agents: ['writer'], assert: ZEBRA },
        { id: 'writer_words', kind: 'assert', on: 'demand', agents: ['writer'], assert: ZEBRA },
        // The editor never runs in these sessions.
        { id: 'editor_words', kind: 'assert', on: 'demand', agents: ['editor'], assert: ZEBRA },
        // Judges the step of the writer's tool that marked the milestone.
        { id: 'drafted', kind: 'assert', on: 'milestone', milestone: 'draft-ready', assert: ZEBRA },
        ...extra,
      ],
    },
  });
}

/** Marks a milestone and attaches a file (kind `file`), both about the topic. */
const DRAFT_TOOL = `import { defineTool, z } from 'p2tui';
export const draft = defineTool({
  name: 'draft',
  description: 'Drafts a line.',
  input: z.object({ topic: z.string() }),
  // Not pure: a pure tool's cached result (in a later session) would bring neither the file nor the milestone.
  effect: 'idempotent',
  run: ({ topic }, ctx) => {
    ctx.attach('draft.md', 'A draft about the ' + topic + '.', 'text/markdown');
    ctx.milestone?.('draft-ready', topic);
    return { text: 'drafted: ' + topic };
  },
});
`;

function workspace(config: string): TempWorkspace {
  const ws = tempWorkspace({ 'p2tui.yaml': config });
  ws.persona({
    id: 'lead',
    description: 'Hands the writing to the writer.',
    agents: ['writer'],
    script: [{ when: '.', steps: [{ delegate: 'writer', message: 'write a line about animals' }, { reply: 'Done.' }] }],
  });
  ws.persona({
    id: 'writer',
    description: 'Writes.',
    tools: ['draft'],
    script: [
      { when: '.', steps: [{ call: 'draft', args: { topic: 'zebra' } }, { reply: 'The zebra crossed the river.' }] },
    ],
  });
  ws.write('tools/draft.ts', DRAFT_TOOL);
  ws.persona({ id: 'editor', description: 'Edits.', script: [{ when: '.', steps: [{ reply: 'Edited.' }] }] });
  return ws;
}

interface ScoreJson {
  evaluator: string;
  value: number | null;
  target: { kind: string; id: string; label?: string };
}

function json<T>(r: CliResult): T {
  expect(r.stderr).not.toContain('bug in p2tui');
  return JSON.parse(r.stdout) as T;
}

function writeScopedSpec(): void {
  ws.write(
    'rollouts/scoped.yaml',
    stringify({
      teams: { desk: { initial_message: 'write about animals', base: { agent_id: 'lead' }, variants: [{ id: 'a' }] } },
      judge: {
        evaluators: [
          { id: 'spec_writer', kind: 'assert', agents: ['writer'], assert: ZEBRA },
          { id: 'spec_editor', kind: 'assert', agents: ['editor'], assert: ZEBRA },
          { id: 'spec_any', kind: 'assert', agents: ['*'], assert: ZEBRA },
          // Trigger fields: the cell's artifacts of that kind (a file), none of the other kind (null).
          { id: 'spec_file', kind: 'assert', on: 'artifact', artifact_kind: 'file', assert: ZEBRA },
          { id: 'spec_report', kind: 'assert', on: 'artifact', artifact_kind: 'report', assert: ZEBRA },
        ],
      },
    }),
  );
}

/** The cell's scores: '*' is the mean over every conversation, the lead's (0) and the writer's (1). */
const CELL_SCORES = {
  spec_writer: 1,
  spec_editor: null,
  spec_any: 0.5,
  spec_file: 1,
  spec_report: null,
  auto_writer: 1,
};

const redis = redisForSuite();
let ws: TempWorkspace;
const cli = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });
let writerConversation = '';

beforeAll(async () => {
  ws = workspace(evaluators());
  const run = await cli('run', 'lead', 'write about animals', '--json');
  expect(run.code).toBe(0);
  const out = json<{ scores: ScoreJson[] }>(run);
  // The automatic trigger: the writer's conversation only, never the lead's answer.
  expect(out.scores.map((s) => [s.evaluator, s.target.kind, s.value]).sort()).toEqual([
    ['auto_writer', 'conversation', 1],
    ['drafted', 'step', 1],
  ]);
  writerConversation = out.scores.find((s) => s.evaluator === 'auto_writer')!.target.id;
}, 30_000);
afterAll(() => ws.cleanup());

describe('evaluator scoping (agents:) in every path', () => {
  it('eval run scores each conversation of the listed agents only: the writer 1, never the lead; an agent that never ran gives no score', async () => {
    const r = await cli(
      'eval',
      'run',
      'last',
      '--evaluator',
      'writer_words',
      '--fail-under',
      'writer_words=1',
      '--json',
    );
    expect(r.code).toBe(0);
    const out = json<{ scores: ScoreJson[]; gates: unknown[]; unscored: unknown[] }>(r);
    expect(out.scores.map((s) => [s.evaluator, s.target.kind, s.target.id, s.value])).toEqual([
      ['writer_words', 'conversation', writerConversation, 1],
    ]);
    expect(out.gates).toEqual([{ metric: 'writer_words', min: 1, value: 1, passed: true }]);
    expect(out.unscored).toEqual([]);

    // Scoped to the editor, who never ran: no score at all (not 0), and a gate on it fails.
    const none = await cli('eval', 'run', 'last', '--evaluator', 'editor_words', '--json');
    expect(none.code).toBe(0);
    expect(json<{ scores: ScoreJson[]; unscored: unknown[] }>(none)).toMatchObject({
      scores: [],
      unscored: [{ evaluator: 'editor_words', agents: ['editor'] }],
    });
    const gated = await cli('eval', 'run', 'last', '--evaluator', 'editor_words', '--fail-under', 'editor_words=0');
    expect(gated.code).toBe(1);
    expect(gated.stdout).toContain('editor_words: no score (no conversation of editor on this branch)');
    expect(gated.stdout).toContain('FAIL  editor_words has no score (no conversation in its scope) < 0');
  }, 30_000);

  it('eval run honours the other trigger fields too: an on: milestone evaluator judges the step that marked it, not the lead’s answer', async () => {
    const r = await cli('eval', 'run', 'last', '--evaluator', 'drafted', '--json');
    expect(r.code).toBe(0);
    const out = json<{ scores: ScoreJson[] }>(r);
    expect(out.scores.map((s) => [s.evaluator, s.target.kind, s.value])).toEqual([['drafted', 'step', 1]]);
  }, 30_000);

  it('eval top: a branch figure is the mean over the listed agents’ conversations; a score of the lead recorded before scoping is left out', async () => {
    // A second workspace: `quality` first unscoped (it scores the lead's answer: 0), then scoped to the writer.
    const other = workspace(evaluators([{ id: 'quality', kind: 'assert', on: 'demand', assert: ZEBRA }]));
    try {
      const run = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: other.dir });
      expect((await run('run', 'lead', 'write about animals', '--json')).code).toBe(0);
      const before = await run('eval', 'run', 'last', '--evaluator', 'quality', '--json');
      expect(json<{ scores: ScoreJson[] }>(before).scores.map((s) => [s.target.kind, s.value])).toEqual([
        ['branch', 0],
      ]);
      other.write(
        'p2tui.yaml',
        evaluators([{ id: 'quality', kind: 'assert', on: 'demand', agents: ['writer'], assert: ZEBRA }]),
      );
      expect((await run('eval', 'run', 'last', '--json')).code).toBe(0);
      const top = await run('eval', 'top', 'last', '--json');
      expect(top.code).toBe(0);
      const out = json<{ branches: { value: number; metrics: Record<string, { mean: number; n: number }> }[] }>(top);
      expect(out.branches).toHaveLength(1);
      expect(out.branches[0]!.metrics).toEqual({
        auto_writer: { mean: 1, min: 1, n: 1 },
        writer_words: { mean: 1, min: 1, n: 1 },
        drafted: { mean: 1, min: 1, n: 1 },
        quality: { mean: 1, min: 1, n: 1 },
      });
      expect(out.branches[0]!.value).toBe(1);
      // The branch tree's score is the same figure.
      const branches = await run('session', 'branches', 'last', '--json');
      expect(branches.code).toBe(0);
      expect(json<{ score: number | null }[]>(branches).map((b) => b.score)).toEqual([1]);
    } finally {
      other.cleanup();
    }
  }, 40_000);

  it('a rollout spec’s judge.evaluators honour agents: the cell scores 1 for the writer, null (not 0) for an agent that never ran', async () => {
    writeScopedSpec();
    const r = await cli('rollout', 'run', 'rollouts/scoped.yaml', '--json');
    expect(r.code).toBe(0);
    const out = json<{
      cells: { status: string; metrics: { scores: Record<string, number | null> } }[];
      variants: { metrics: Record<string, { mean: number | null; n: number }> }[];
    }>(r);
    expect(out.cells.map((c) => c.status)).toEqual(['done']);
    expect(out.cells[0]!.metrics.scores).toEqual(CELL_SCORES);
    // The variant's statistics count the writer's score, and nothing for the editor (not a 0).
    expect(out.variants[0]!.metrics['spec_writer']).toMatchObject({ mean: 1, n: 1 });
    expect(out.variants[0]!.metrics['spec_editor']).toMatchObject({ mean: null, n: 0 });
  }, 40_000);

  it('refuses agents that are not personas of the workspace, in p2tui.yaml and in a rollout spec, naming the file, key and name', async () => {
    ws.write(
      'rollouts/typo.yaml',
      stringify({
        teams: { desk: { initial_message: 'go', base: { agent_id: 'lead' } } },
        judge: { evaluators: [{ id: 'x', kind: 'assert', agents: ['writer', 'wrtier'], assert: ZEBRA }] },
      }),
    );
    const spec = await cli('rollout', 'validate', 'rollouts/typo.yaml');
    expect(spec.code).toBe(3);
    expect(spec.stderr).toContain('error E_ROLLOUT_SPEC:');
    expect(spec.stderr).toMatch(
      /rollouts\/typo\.yaml:\d+:\d+: judge\.evaluators\[0\]\.agents\[1\]: unknown agent 'wrtier' \(did you mean writer\?\); personas: editor, lead, writer/,
    );

    const bad = workspace(evaluators([{ id: 'q', kind: 'assert', agents: ['wrtier'], assert: ZEBRA }]));
    try {
      const r = await runCli(['run', 'lead', 'go'], { cwd: bad.dir });
      expect(r.code).toBe(3);
      expect(r.stderr).toContain('error E_CONFIG:');
      expect(r.stderr).toContain(
        "p2tui.yaml: judge.evaluators[4].agents[0]: unknown agent 'wrtier' (did you mean writer?); personas: editor, lead, writer",
      );
    } finally {
      bad.cleanup();
    }
  }, 30_000);
});

describe.skipIf(!haveRedis)('evaluator scoping in a queued rollout', () => {
  it('cells a worker ran score as local ones do: the coordinator reads each metric over the targets in scope', async () => {
    writeScopedSpec();
    // The coordinator's key, there before the worker starts (which reads the workspace's copy).
    ws.write('.p2tui/queue.key', `${SECRET}\n`);
    chmodSync(join(ws.dir, '.p2tui/queue.key'), 0o600);
    const worker = spawn(
      process.execPath,
      [MAIN, 'worker', '--queue', redis.url, '--concurrency', '1', '--workspace', ws.dir],
      { env: childEnv(), stdio: 'ignore' },
    );
    redis.children.push(worker);
    const r = await cli('rollout', 'run', 'rollouts/scoped.yaml', '--queue', redis.url, '--json');
    expect(r.code).toBe(0);
    const out = json<{ cells: { status: string; metrics: { scores: Record<string, number | null> } }[] }>(r);
    expect(out.cells.map((c) => c.status)).toEqual(['done']);
    expect(out.cells[0]!.metrics.scores).toEqual(CELL_SCORES);
  }, 40_000);
});
