import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { weatherWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

/** One session a user started, then a small rollout (four cell sessions), all through the real CLI. */
const SPEC = [
  'teams:',
  '  weather:',
  '    initial_message: What is the weather in Paris today?',
  '    base: { agent_id: forecaster }',
  '    variants: [{ id: plain, temperature: 0 }, { id: warm, temperature: 0.5 }]',
  'repeats: 2',
].join('\n');

let ws: TempWorkspace;
let own: string;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

beforeAll(async () => {
  ws = weatherWorkspace(SPEC);
  const run = await p2tui('run', 'forecaster', 'hello', '--json');
  expect(run.code).toBe(0);
  own = (JSON.parse(run.stdout) as { session: string }).session;
  const rollout = await p2tui('rollout', 'run', 'rollouts/weather.yaml');
  expect(rollout.code).toBe(0);
}, 30_000);
afterAll(() => ws.cleanup());

type Listed = { id: string; source: string };

describe('session list and last after a rollout', () => {
  it('hides the rollout cell sessions and says how many it hid; --cells shows them', async () => {
    const list = await p2tui('session', 'list');
    expect(list.code).toBe(0);
    const lines = list.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe('SESSION     STATUS    AGENT       FROM  STARTED  DRIVER  TITLE');
    expect(lines[1]).toMatch(new RegExp(`^${own}  finished  forecaster  run   \\d+s ago +hello$`));
    expect(lines[2]).toBe('4 rollout cell sessions hidden (--cells)');

    const all = await p2tui('session', 'list', '--cells');
    expect(all.code).toBe(0);
    const rows = all.stdout.trimEnd().split('\n').slice(1);
    expect(rows).toHaveLength(5);
    expect(rows.filter((r) => / rollout /.test(r))).toHaveLength(4);
    expect(all.stdout).not.toContain('hidden');
  });

  it('--json hides them too unless --cells', async () => {
    const json = await p2tui('session', 'list', '--json');
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as Listed[]).map((s) => [s.id, s.source])).toEqual([[own, 'run']]);
    const cells = await p2tui('session', 'list', '--json', '--cells');
    expect((JSON.parse(cells.stdout) as Listed[]).map((s) => s.source)).toEqual([
      'rollout',
      'rollout',
      'rollout',
      'rollout',
      'run',
    ]);
  });

  it('"last" is the newest session that is not a rollout cell', async () => {
    const show = await p2tui('session', 'show', 'last', '--json');
    expect(show.code).toBe(0);
    expect((JSON.parse(show.stdout) as { session: string }).session).toBe(own);
  });
});

describe('"last" when only rollout cells exist', () => {
  it('is refused with E_UNKNOWN_SESSION, naming the cells and how to list them', async () => {
    const only = weatherWorkspace(SPEC);
    try {
      expect((await runCli(['rollout', 'run', 'rollouts/weather.yaml'], { cwd: only.dir })).code).toBe(0);
      const show = await runCli(['session', 'show', 'last'], { cwd: only.dir });
      expect(show.code).toBe(2);
      expect(show.stderr).toContain(
        'error E_UNKNOWN_SESSION: there are no sessions yet besides 4 rollout cell sessions',
      );
      expect(show.stderr).toContain(
        '"last" skips rollout cells: name a cell session by id (p2tui session list --cells)',
      );
      const list = await runCli(['session', 'list'], { cwd: only.dir });
      expect(list.stdout).toBe('No sessions besides rollout cells.\n4 rollout cell sessions hidden (--cells)\n');
    } finally {
      only.cleanup();
    }
  }, 20_000);
});
