import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAIN, runCli, type CliResult } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { weatherWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * The README's exit codes, one real process per row (and one per kind of id a command line can name): the status,
 * the error code, the bad word named and, for an unknown id, the nearest existing one suggested.
 */

const SPEC = [
  'teams:',
  '  weather:',
  '    initial_message: What is the weather in Paris today?',
  '    base: { agent_id: forecaster }',
  '    variants: [{ id: plain, temperature: 0 }]',
  'judge:',
  '  evaluators:',
  '    - { id: sunny, kind: assert, assert: [{ contains: sunny }], on: demand }',
].join('\n');

let ws: TempWorkspace;
let session: string;
let rollout: string;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

beforeAll(async () => {
  ws = weatherWorkspace(SPEC);
  ws.write('p2tui.yaml', 'judge:\n  evaluators:\n    - { id: snowy, kind: assert, assert: [{ contains: snow }] }\n');
  ws.persona({ id: 'asker', description: 'Asks.', script: [{ when: '.', steps: [{ ask: 'Which city?' }] }] });
  ws.persona({
    id: 'lead',
    description: 'Delegates.',
    model: 'scripted/slow',
    script: [{ when: '.', steps: [{ delegate: 'forecaster', message: 'weather?' }, { reply: 'done' }] }],
    tools: ['delegate'],
  });
  ws.write('notes.txt', 'not a database\n');
  const run = await p2tui('run', 'forecaster', 'hello', '--json');
  expect(run.code).toBe(0);
  session = (JSON.parse(run.stdout) as { session: string }).session;
  const rolled = await p2tui('rollout', 'run', 'rollouts/weather.yaml', '--json');
  expect(rolled.code).toBe(0);
  rollout = (JSON.parse(rolled.stdout) as { rollout: string }).rollout;
}, 60_000);
afterAll(() => ws.cleanup());

/** A typo of an id: its last character changed. */
const typo = (id: string): string => `${id.slice(0, -1)}${id.endsWith('z') ? 'y' : 'z'}`;

interface Row {
  readonly name: string;
  readonly args: () => string[];
  readonly exit: number;
  /** The error code (none for a command that succeeds or fails without an error). */
  readonly code?: string;
  /** Text the error (message and hint) must contain: the bad word, the suggestion. */
  readonly says?: () => readonly string[];
}

const ROWS: readonly Row[] = [
  { name: '0 done', args: () => ['session', 'show', session], exit: 0 },
  {
    name: '1 a failed check (an evaluator below the --fail-under bar)',
    args: () => ['eval', 'run', session, '--evaluator', 'snowy', '--fail-under', 'snowy=1'],
    exit: 1,
  },
  {
    name: '2 usage: an unknown subcommand',
    args: () => ['session', 'lst'],
    exit: 2,
    code: 'E_USAGE',
    says: () => ["unknown command 'lst'", "Did you mean 'p2tui session list'?"],
  },
  {
    name: '2 usage: a negative number as a value',
    args: () => ['run', 'forecaster', 'hi', '--max-steps', '-5'],
    exit: 2,
    code: 'E_USAGE',
    says: () => ['--max-steps must be at least 1, got -5'],
  },
  {
    name: '2 unknown session',
    args: () => ['session', 'show', typo(session)],
    exit: 2,
    code: 'E_UNKNOWN_SESSION',
    says: () => [`no session '${typo(session)}'`, `Did you mean ${session}?`],
  },
  {
    name: '2 unknown branch',
    args: () => ['session', 'checkout', session, 'mian'],
    exit: 2,
    code: 'E_UNKNOWN_BRANCH',
    says: () => ["no branch 'mian'", 'Did you mean main?'],
  },
  {
    name: '2 unknown rollout',
    args: () => ['rollout', 'show', typo(rollout)],
    exit: 2,
    code: 'E_UNKNOWN_ROLLOUT',
    says: () => [`no rollout '${typo(rollout)}'`, `Did you mean ${rollout}?`],
  },
  {
    name: '2 unknown artifact',
    args: () => ['artifacts', 'show', 'deadbeef'],
    exit: 2,
    code: 'E_UNKNOWN_ARTIFACT',
    says: () => ["no artifact 'deadbeef'", 'p2tui artifacts list'],
  },
  {
    name: '2 unknown evaluator (misspelled in --fail-under: never the 1 of a failed gate)',
    args: () => ['eval', 'run', session, '--fail-under', 'snowwy=0.5'],
    exit: 2,
    code: 'E_UNKNOWN_EVALUATOR',
    says: () => ["no evaluator 'snowwy'", 'Did you mean snowy?'],
  },
  {
    name: '2 unknown metric (rollout run refuses it before running a cell)',
    args: () => ['rollout', 'run', 'rollouts/weather.yaml', '--fail-under', 'suny=0.5'],
    exit: 2,
    code: 'E_UNKNOWN_METRIC',
    says: () => ["no metric 'suny'", 'Did you mean sunny?'],
  },
  {
    name: '3 invalid workspace: unknown agent',
    args: () => ['run', 'forecastr', 'hi'],
    exit: 3,
    code: 'E_UNKNOWN_AGENT',
    says: () => ["'forecastr'", 'Did you mean forecaster?'],
  },
  { name: '4 waiting for an answer', args: () => ['run', 'asker', 'go', '--approval', 'ask'], exit: 4 },
  {
    name: '5 database: not a database',
    args: () => ['session', 'list', '--db', join(ws.dir, 'notes.txt')],
    exit: 5,
    code: 'E_DB_CORRUPT',
  },
  {
    name: '6 a file named cannot be used',
    args: () => ['events', 'export', '--out', join(ws.dir, 'no', 'such', 'x.jsonl')],
    exit: 6,
    code: 'E_FILE_NOT_FOUND',
  },
];

describe('exit codes: one real process per row of the README table', () => {
  it('every row exits with its code, names the bad word and suggests the nearest id', async () => {
    // Two at a time: real processes on a shared machine.
    const results: CliResult[] = [];
    for (let i = 0; i < ROWS.length; i += 2)
      results.push(...(await Promise.all(ROWS.slice(i, i + 2).map((row) => p2tui(...row.args())))));
    ROWS.forEach((row, i) => {
      const r = results[i]!;
      expect({ row: row.name, exit: r.code, stderr: r.stderr }).toMatchObject({ row: row.name, exit: row.exit });
      if (row.code !== undefined) expect(r.stderr, row.name).toContain(`error ${row.code}:`);
      for (const text of row.says?.() ?? []) expect(r.stderr, row.name).toContain(text);
      expect(r.stderr, row.name).not.toContain('E_INTERNAL');
    });
    // A metric named after the session was scored (by the snowy row above): eval show and eval top refuse a typo of it.
    for (const command of ['show', 'top']) {
      const metric = await p2tui('eval', command, session, '--metric', 'snowwy');
      expect(metric.code).toBe(2);
      expect(metric.stderr).toContain(`error E_UNKNOWN_METRIC: no scores for metric 'snowwy' in session ${session}`);
      expect(metric.stderr).toContain('Did you mean snowy?');
    }
    // The gate refused before running: no cell of a second rollout was started.
    const listed = JSON.parse((await p2tui('rollout', 'list', '--json')).stdout) as unknown[];
    expect(listed).toHaveLength(1);
  }, 60_000);

  it('130 interrupted: Ctrl-C stops a running session', async () => {
    const child = spawn(process.execPath, [MAIN, 'run', 'lead', 'go'], {
      cwd: ws.dir,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (out.includes('lead')) resolve();
      }),
    );
    child.kill('SIGINT');
    expect(await exited).toBe(130);
  }, 20_000);

  it('--json errors are one {"error": …} object on stdout, the same for every command', async () => {
    const rows = await Promise.all([
      p2tui('session', 'show', typo(session), '--json'),
      p2tui('sesion', 'list', '--json'),
      p2tui('run', 'forecaster', 'hi', '--seed', '1.5', '--json'),
    ]);
    for (const r of rows) {
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('');
      const error = (JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string | null } }).error;
      expect(['E_UNKNOWN_SESSION', 'E_USAGE']).toContain(error.code);
      expect(error.message).not.toBe('');
    }
  }, 30_000);
});
