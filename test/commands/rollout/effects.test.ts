import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import stringWidth from 'string-width';
import { describeOverrides } from '../../../src/engine/branching.ts';
import { gridOf } from '../../../src/rollout/grid.ts';
import type { CellRow } from '../../../src/store/rollouts.ts';
import { MAIN, runCli, type CliResult } from '../../helpers/cli.ts';
import { childEnv } from '../../helpers/child-env.ts';
import { haveRedis, redisForSuite } from '../../helpers/host-tools.ts';
import { until } from '../../helpers/manual-clock.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/**
 * A rollout spec's `effects:` (issue 17, point 2): the cells' sessions carry the policy, and the listings show which
 * policy each cell and branch ran under. A writer whose script saves its report with an effectful workspace tool.
 */
const SAVE_TOOL = `import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';

export const saveReport = defineTool({
  name: 'save_report', description: 'Saves the report to report.txt in the workspace.', effect: 'effectful',
  input: z.object({ text: z.string() }),
  run({ text }, ctx) {
    appendFileSync(join(ctx.workspace, 'report.txt'), text + '\\n');
    return { saved: true };
  },
});
`;

const SPEC = [
  'teams:',
  '  desk:',
  '    initial_message: Write the report.',
  '    base: { agent_id: writer }',
  '    variants: [{ id: dry }, { id: real, effects: live }]',
  'effects: dry-run',
].join('\n');

function deskWorkspace(): TempWorkspace {
  const ws = tempWorkspace({ 'tools/save.ts': SAVE_TOOL, 'rollouts/desk.yaml': SPEC });
  ws.persona({
    id: 'writer',
    description: 'Writes reports.',
    tools: ['save_report'],
    script: [{ when: '.', steps: [{ call: 'save_report', args: { text: 'the report' } }, { reply: 'saved' }] }],
  });
  return ws;
}

interface CellJson {
  variant: string;
  session: string;
  status: string;
  effects: string | null;
}

const redis = redisForSuite();
let ws: TempWorkspace;
let run: CliResult;
let cells: CellJson[];
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

beforeAll(async () => {
  ws = deskWorkspace();
  run = await p2tui('rollout', 'run', 'rollouts/desk.yaml', '--json');
  if (run.code === 0) cells = (JSON.parse(run.stdout) as { cells: CellJson[] }).cells;
}, 30_000);
afterAll(() => ws.cleanup());

describe("a rollout spec's effects", () => {
  it("starts each cell's session with the spec's policy, a variant's own beating it", async () => {
    expect(run.code, run.stderr).toBe(0);
    expect(cells.map((c) => [c.variant, c.status, c.effects])).toEqual([
      ['dry', 'done', 'dry-run'],
      ['real', 'done', 'live'],
    ]);
    const dry = await p2tui('session', 'show', cells[0]!.session, '--json');
    expect(dry.code, dry.stderr).toBe(0);
    const shown = JSON.parse(dry.stdout) as { options: { effects?: string }; effects: string };
    expect(shown.options.effects).toBe('dry-run');
    expect(shown.effects).toBe('dry-run');
    const real = JSON.parse((await p2tui('session', 'show', cells[1]!.session, '--json')).stdout) as {
      options: { effects?: string };
    };
    expect(real.options.effects).toBe('live');
    const text = await p2tui('session', 'show', cells[0]!.session);
    expect(text.stdout).toMatch(/budget \d+ steps · approval deny · effects dry-run/);
  });

  it("runs no effectful call in a dry-run cell: only the live cell's report is written, the dry one's is skipped", async () => {
    expect(run.code, run.stderr).toBe(0);
    expect(readFileSync(join(ws.dir, 'report.txt'), 'utf8')).toBe('the report\n');
    const entries = await p2tui('session', 'stack', cells[0]!.session, '--json');
    expect(entries.code, entries.stderr).toBe(0);
    expect(entries.stdout).toContain('E_DRY_RUN');
    expect(entries.stdout).toMatch(/"simulated":\s*true/);
  });

  it('rollout show names the policy per variant and per cell; --json carries it', async () => {
    const show = await p2tui('rollout', 'show', 'last', '--cells', '--wide');
    expect(show.code, show.stderr).toBe(0);
    const lines = show.stdout.split('\n');
    const header = lines.find((l) => l.startsWith('team '))!;
    expect(header).toMatch(/ effects/);
    expect(lines.find((l) => /^desk +dry /.test(l))).toMatch(/ dry-run/);
    expect(lines.find((l) => /^desk +real /.test(l))).toMatch(/ live/);
    const cellHeader = lines.find((l) => l.startsWith('cell '))!;
    expect(cellHeader).toMatch(/status +effects/);
    expect(lines.find((l) => l.includes(cells[0]!.session))).toMatch(/done +dry-run/);
    const json = JSON.parse((await p2tui('rollout', 'show', 'last', '--json')).stdout) as {
      variants: { variant: string; effects: string }[];
    };
    expect(json.variants.map((v) => [v.variant, v.effects])).toEqual([
      ['dry', 'dry-run'],
      ['real', 'live'],
    ]);
  });

  it('session list marks a dry-run session and lists the policy in --json; session branches shows it', async () => {
    const list = await p2tui('session', 'list', '--cells');
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n').find((l) => l.startsWith(cells[0]!.session))).toContain('[dry-run] ');
    expect(list.stdout.split('\n').find((l) => l.startsWith(cells[1]!.session))).not.toContain('[live]');
    const listed = JSON.parse((await p2tui('session', 'list', '--cells', '--json')).stdout) as {
      id: string;
      effects: string;
    }[];
    expect(listed.find((s) => s.id === cells[0]!.session)?.effects).toBe('dry-run');
    expect(listed.find((s) => s.id === cells[1]!.session)?.effects).toBe('live');

    const branches = await p2tui('session', 'branches', cells[0]!.session);
    expect(branches.code, branches.stderr).toBe(0);
    expect(branches.stdout).toMatch(/\* b_\w+ +main .* effects dry-run \(session\) +rollout, /);
    const json = JSON.parse((await p2tui('session', 'branches', cells[0]!.session, '--json')).stdout) as {
      effects: string;
    }[];
    expect(json.map((b) => b.effects)).toEqual(['dry-run']);
  });

  it("a fork_from rollout's cells are branches with the spec's policy, shown in the branch tree", async () => {
    const first = await p2tui('run', 'writer', 'Write the first report.', '--json');
    expect(first.code, first.stderr).toBe(0);
    const source = (JSON.parse(first.stdout) as { session: string }).session;
    ws.write(
      'rollouts/forked.yaml',
      [
        'teams:',
        '  desk:',
        '    scenarios: [Write it again.]',
        '    base: { agent_id: writer, temperature: 0.5 }',
        `fork_from: { session: ${source} }`,
        'effects: dry-run',
      ].join('\n'),
    );
    const forked = await p2tui('rollout', 'run', 'rollouts/forked.yaml', '--json');
    expect(forked.code, forked.stderr).toBe(0);
    const branches = await p2tui('session', 'branches', source);
    const cellBranch = branches.stdout.split('\n').find((l) => l.includes('rollout ro_'))!;
    expect(cellBranch).toContain('temperature writer=0.5; effects dry-run');
    expect(cellBranch).not.toContain('(session)');
    const json = JSON.parse((await p2tui('session', 'branches', source, '--json')).stdout) as {
      effects: string;
      overrides: { effects?: string };
    }[];
    expect(json.map((b) => [b.effects, b.overrides.effects ?? null])).toEqual([
      ['live', null],
      ['dry-run', 'dry-run'],
    ]);
  }, 20_000);

  it("rollout validate names each variant's policy; the grid rows carry it", async () => {
    const v = await p2tui('rollout', 'validate', 'rollouts/desk.yaml');
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('    dry: writer effects=dry-run\n');
    expect(v.stdout).toContain('    real: writer effects=live\n');
    const json = JSON.parse((await p2tui('rollout', 'validate', 'rollouts/desk.yaml', '--json')).stdout) as {
      teams: { variants: { id: string; effects: string | null }[] }[];
    };
    expect(json.teams[0]!.variants.map((x) => [x.id, x.effects])).toEqual([
      ['dry', 'dry-run'],
      ['real', 'live'],
    ]);
    const row = (variant: string, id: string): CellRow => ({
      rollout: 'ro_x',
      id,
      ordinal: 0,
      team: 'desk',
      variant,
      scenario: 's1',
      repeat: 0,
      seed: 1,
      status: 'done',
      session: null,
      error: null,
      metrics: null,
      startedAt: null,
      finishedAt: null,
    });
    const grid = gridOf([row('dry', 'c1'), row('real', 'c2')], {
      effects: new Map([
        ['c1', 'dry-run'],
        ['c2', 'live'],
      ]),
    });
    expect(grid.rows.map((r) => [r.variant, r.effects])).toEqual([
      ['dry', 'dry-run'],
      ['real', 'live'],
    ]);
  });

  it('describeOverrides names the branch policy after the settings', () => {
    expect(
      describeOverrides({ temperature: 0.1, personas: { writer: { temperature: 0.9 } }, effects: 'dry-run' }),
    ).toBe('temperature *=0.1 writer=0.9; effects dry-run');
    expect(describeOverrides({ effects: 'live' })).toBe('effects live');
  });
});

describe('a spec effects value that cannot run', () => {
  it('an unknown policy is refused with E_ROLLOUT_SPEC (exit 3), naming the file, line and field', async () => {
    ws.write('rollouts/typo.yaml', `${SPEC.replace('effects: dry-run', 'effects: dryrun')}\n`);
    const r = await p2tui('rollout', 'validate', 'rollouts/typo.yaml');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('error E_ROLLOUT_SPEC:');
    expect(r.stderr).toContain(
      'error E_ROLLOUT_SPEC: rollouts/typo.yaml:6:10: effects: Invalid option: expected one of "live"|"dry-run"|"ask"',
    );
    ws.write('rollouts/typo2.yaml', SPEC.replace('effects: live', 'effects: maybe'));
    const v = await p2tui('rollout', 'run', 'rollouts/typo2.yaml');
    expect(v.code).toBe(3);
    expect(v.stderr).toMatch(/rollouts\/typo2\.yaml:5:\d+: teams\.desk\.variants\[1\]\.effects: /);
  });

  it("'ask' without an approval policy is refused (nobody answers in a cell); with approval: deny it is valid", async () => {
    ws.write('rollouts/ask.yaml', SPEC.replace('effects: dry-run', 'effects: ask'));
    const r = await p2tui('rollout', 'run', 'rollouts/ask.yaml');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('error E_ROLLOUT_SPEC:');
    expect(r.stderr).toContain(
      "rollouts/ask.yaml:6:10: effects: 'ask' waits for a person's approval of every effectful call, and nobody " +
        "answers in a rollout's cells: set approval: deny (each such call is refused) or approval: approve (each runs), " +
        'or use effects: dry-run',
    );
    ws.write('rollouts/ask-deny.yaml', `${SPEC.replace('effects: dry-run', 'effects: ask')}\napproval: deny\n`);
    const ok = await p2tui('rollout', 'validate', 'rollouts/ask-deny.yaml');
    expect(ok.code, ok.stderr).toBe(0);
  });
});

describe('the progress line of rollout run', () => {
  it('fits 80 columns without a terminal, and --width when given', async () => {
    const plain = SPEC.replace('effects: dry-run', 'repeats: 6').replace(', effects: live', '');
    ws.write('rollouts/plain.yaml', plain);
    const r = await p2tui('rollout', 'run', 'rollouts/plain.yaml');
    expect(r.code, r.stderr).toBe(0);
    const progress = r.stdout.split('\n').filter((l) => / cells · /.test(l));
    expect(progress.length).toBeGreaterThan(1);
    for (const line of progress) expect(stringWidth(line), line).toBeLessThanOrEqual(80);
    expect(progress.at(-1)).toMatch(/^\[█+\] 12\/12 cells · 12 done · 0 failed/);
    const narrow = await p2tui('rollout', 'run', 'rollouts/plain.yaml', '--width', '40');
    expect(narrow.code, narrow.stderr).toBe(0);
    const lines = narrow.stdout.split('\n').filter((l) => / cells/.test(l) && !/^plain:/.test(l));
    expect(lines.length).toBeGreaterThan(1);
    for (const line of lines) expect(stringWidth(line), line).toBeLessThanOrEqual(40);
    expect(lines.at(-1)).toContain('12/12 cells');
    expect(lines.at(-1)).toContain('0 failed');
  }, 20_000);
});

describe.skipIf(!haveRedis)('a distributed rollout (a real redis-server and p2tui worker)', () => {
  it("runs each cell on the worker under the spec's policy, and the ingested sessions carry it", async () => {
    const queued = deskWorkspace();
    try {
      // One key for both sides, as a user copies the coordinator's queue.key to the worker.
      mkdirSync(join(queued.dir, '.p2tui'), { recursive: true });
      writeFileSync(join(queued.dir, '.p2tui', 'queue.key'), 'b2'.repeat(32), { mode: 0o600 });
      let log = '';
      const worker = spawn(process.execPath, [MAIN, 'worker', '--queue', redis.url, '--workspace', queued.dir], {
        env: childEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      redis.children.push(worker);
      worker.stdout.on('data', (d: Buffer) => (log += d.toString()));
      worker.stderr.on('data', (d: Buffer) => (log += d.toString()));
      await until(() => log.includes('Ctrl-C stops'), 'the worker', 20_000);
      const r = await runCli(['rollout', 'run', 'rollouts/desk.yaml', '--queue', redis.url, '--json'], {
        cwd: queued.dir,
      });
      expect(r.code, r.stderr).toBe(0);
      const ran = (JSON.parse(r.stdout) as { cells: CellJson[] }).cells;
      expect(ran.map((c) => [c.variant, c.status, c.effects])).toEqual([
        ['dry', 'done', 'dry-run'],
        ['real', 'done', 'live'],
      ]);
      const show = await runCli(['session', 'show', ran[0]!.session, '--json'], { cwd: queued.dir });
      expect((JSON.parse(show.stdout) as { options: { effects?: string } }).options.effects).toBe('dry-run');
      expect(log).toContain('✓ desk/dry');
      // On the worker too, the dry cell's effectful call never ran: the file holds the live cell's one line.
      expect(readFileSync(join(queued.dir, 'report.txt'), 'utf8')).toBe('the report\n');
    } finally {
      queued.cleanup();
    }
  }, 40_000);
});
