import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'puppeteer-core';
import { stringify } from 'yaml';
import { rolloutReport } from '../../src/report/rollout.ts';
import { Store } from '../../src/store/store.ts';
import { chromiumPath, closeBrowser, haveChromium, openPage } from '../helpers/browser.ts';
import { MAIN, runCli, type CliResult } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { freePort } from '../helpers/host-tools.ts';
import { countRows } from '../helpers/raw-db.ts';
import { tempStore, tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * `p2tui report rollout`: a rollout run by the CLI on scripted personas (2 scenarios × 3 repeats, a baseline that
 * always answers "heads", a coin tosser whose tosses alternate, and a variant whose model is unreachable so its cells
 * fail), judged by an assertion; the report opened in headless Chromium and read as a person reads it.
 */

const HOSTILE = `</script><img src=x onerror="window.__p2tuiScriptRan=true"><script>window.__p2tuiScriptRan=true</script>`;

/** Alternates heads and tails by the toss's number; the fifth toss lands on the hostile text (the tosser repeats it). */
const COIN = `import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';
export const coin = defineTool({
  name: 'toss_coin',
  description: 'Toss a coin.',
  input: z.object({}),
  effect: 'effectful',
  run(_args, ctx) {
    mkdirSync(join(ctx.workspace, '.p2tui'), { recursive: true });
    const file = join(ctx.workspace, '.p2tui', 'tosses.txt');
    const n = (existsSync(file) ? Number(readFileSync(file, 'utf8')) : 0) + 1;
    writeFileSync(file, String(n));
    return n === 5 ? ${JSON.stringify(HOSTILE)} : n % 2 === 1 ? 'heads' : 'tails';
  },
});
`;

const SPEC = stringify({
  name: 'coins',
  teams: {
    desk: {
      scenarios: ['Toss a coin for the first game.', { id: 'second', message: 'Toss a coin for the second game.' }],
      base: { agent_id: 'steady' },
      variants: [{ id: 'steady' }, { id: 'tosser', agent_id: 'tosser' }, { id: 'broken', model: 'openai/gpt-4o' }],
    },
  },
  repeats: 3,
  // One at a time: the tosses (and so the scores) come in the cells' order.
  concurrency: 1,
  // Two metrics: the plots draw a panel for each.
  judge: {
    evaluators: [
      { id: 'heads', kind: 'assert', assert: [{ contains: 'heads' }] },
      { id: 'coin', kind: 'assert', assert: [{ contains: 'coin' }] },
    ],
  },
});

interface CellJson {
  id: string;
  variant: string;
  scenario: string;
  seed: number;
  status: string;
  session: string | null;
}

let ws: TempWorkspace;
let rolloutId: string;
let cells: CellJson[];
let shown: CliResult;
let reportFile: string;
const p2tui = (...args: string[]): Promise<CliResult> =>
  runCli(args, { cwd: ws.dir, env: { OPENAI_API_KEY: 'sk-test-0123456789' } });

beforeAll(async () => {
  // A port nothing listens on: every call of the `broken` variant is refused, and its cells fail.
  const port = await freePort();
  ws = tempWorkspace({
    'rollouts/coins.yaml': SPEC,
    'tools/coin.ts': COIN,
    'p2tui.yaml': stringify({
      providers: { openai: { base_url: `http://127.0.0.1:${port}/v1`, max_retries: 0, stream: false } },
    }),
  });
  // The baseline asks another agent first: its transcripts show a delegation.
  ws.persona({
    id: 'steady',
    description: 'Always says heads.',
    agents: ['echo'],
    script: [{ when: '.', steps: [{ delegate: 'echo', message: 'Say heads.' }, { reply: 'heads, as always' }] }],
  });
  ws.persona({ id: 'echo', description: 'Says heads.', script: [{ when: '.', steps: [{ reply: 'heads' }] }] });
  ws.persona({
    id: 'tosser',
    description: 'Tosses a coin.',
    tools: ['toss_coin'],
    script: [{ when: '.', steps: [{ call: 'toss_coin' }, { reply: 'The coin says: {{result}}' }] }],
  });
  const run = await p2tui('rollout', 'run', 'rollouts/coins.yaml', '--json');
  expect(run.code, run.stderr).toBe(0);
  const ran = JSON.parse(run.stdout) as { rollout: string; cells: CellJson[] };
  rolloutId = ran.rollout;
  cells = ran.cells;
  shown = await p2tui('rollout', 'show', rolloutId, '--wide');
  expect(shown.code, shown.stderr).toBe(0);
  const made = await p2tui('report', 'rollout', rolloutId, '--json');
  expect(made.code, made.stderr).toBe(0);
  reportFile = (JSON.parse(made.stdout) as { report: string }).report;
}, 60_000);

afterAll(async () => {
  await closeBrowser();
  ws.cleanup();
});

/** The rollout id a report page names in its subtitle. */
const rolloutIdOf = (page: string): string => /<p>(ro_[a-z0-9]+) · /.exec(page)![1]!;

const cellOf = (variant: string, scenario: string, seed: number): CellJson =>
  cells.find((c) => c.variant === variant && c.scenario === scenario && c.seed === seed)!;

describe('p2tui report rollout', () => {
  it.skipIf(!haveChromium)(
    'shows the statistics rollout show prints, three plots, the grid, the flaky scenario, the spec and the hostile reply as text (Chromium)',
    async () => {
      const opened = await openPage(reportFile, 'rollout-report', [
        'img',
        'script',
        'figure.plot svg',
        'table.grid li.run',
        'table.grid li.run.failed',
        'table.grid li.run.low',
        'table.grid li.run a[href^="#cell-"]',
        'details.cell',
        'table.flaky tr',
        'pre.spec',
      ]);
      expect(opened.console).toEqual([]);
      expect(opened.errors).toEqual([]);
      expect(opened.requests).toEqual([`file://${reportFile}`]);
      expect(opened.scriptRan).toBe(false);
      expect(opened.title).toBe('Rollout coins');
      expect(opened.plots).toEqual([
        'Mean score per variant with its 95% confidence interval',
        "Paired difference to the team's baseline (mean and 95% confidence interval; the line at 0 is no difference)",
        'Score against cost, one point per finished cell (heads)',
      ]);
      // The header: what ran and how it ended.
      expect(opened.text).toContain(`coins ${rolloutId}`);
      expect(opened.text).toMatch(/status\tfinished\n/);
      expect(opened.text).toContain('18 · 12 done · 6 failed');
      // The means and intervals, as `rollout show` prints them (steady 6 × 1; the tosser 1,0,1 and 0,0,0).
      for (const figure of ['1.00 ± 0.00', '0.33 ± 0.54']) {
        expect(shown.stdout).toContain(figure);
        expect(opened.text).toContain(figure);
      }
      expect(shown.stdout).toContain('Δ-0.67*');
      // The paired difference: 6 pairs, its interval excludes 0; the broken variant has no pairs.
      expect(opened.text).toContain('tosser − steady\theads\t6\t-0.667\t[-1.209, -0.125]\tyes');
      expect(opened.text).toContain('broken − steady\theads\t0\t–\t–\ttoo few pairs');
      // The second metric: the baseline never says "coin", the tosser always does (an interval of no width).
      expect(opened.text).toContain('tosser − steady\tcoin\t6\t+1.000\t[1.000, 1.000]\tyes');
      expect(opened.text).toContain('steady baseline\tcoin\t6\t0.00 ± 0.00');
      // The grid: every repeat, each a link; the failed ones red with their error.
      expect(opened.counts['table.grid li.run']).toBe(18);
      expect(opened.counts['table.grid li.run a[href^="#cell-"]']).toBe(18);
      expect(opened.counts['table.grid li.run.failed']).toBe(6);
      // The tosser's tails (and the hostile toss) score 0: marked low, apart from the failed cells.
      expect(opened.counts['table.grid li.run.low']).toBe(4);
      expect(opened.counts['details.cell']).toBe(18);
      expect(opened.text).toContain('seed 1: failed\nthe session ended failed');
      // The flaky place: the tosser's first scenario (heads, tails, heads).
      expect(opened.counts['table.flaky tr']).toBe(2);
      expect(opened.text).toContain('desk\ttosser\ts1\theads\t1: 1.00, 2: 0.00, 3: 1.00');
      // The spec as it ran.
      expect(opened.counts['pre.spec']).toBe(1);
      expect(opened.text).toContain('message: Toss a coin for the second game.');
      // The hostile reply, shown as text and nothing else.
      expect(opened.text).toContain(`The coin says: ${HOSTILE}`);
      expect(opened.counts).toMatchObject({ img: 0, script: 0, 'figure.plot svg': 3 });
    },
    30_000,
  );

  it.skipIf(!haveChromium)(
    "a repeat in the grid links to its cell's transcript, which opens and holds its reply, tool call and score (Chromium)",
    async () => {
      const { default: puppeteer } = await import('puppeteer-core');
      const browser: Browser = await puppeteer.launch({
        executablePath: chromiumPath!,
        headless: true,
        args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
      });
      try {
        const page = await browser.newPage();
        await page.goto(`file://${reportFile}`, { waitUntil: 'load' });
        const hostile = cellOf('tosser', 'second', 2);
        const read = (id: string): Promise<[boolean, string]> =>
          page.evaluate(
            `(() => { const t = document.getElementById(${JSON.stringify(id)}); return [t.checkVisibility(), t.innerText]; })()`,
          ) as Promise<[boolean, string]>;
        const anchor = `cell-${hostile.id}`;
        expect((await read(anchor))[0]).toBe(false);
        await page.click(`table.grid a[href="#${anchor}"]`);
        const [visible, text] = await read(anchor);
        expect(visible).toBe(true);
        expect(text).toContain('desk / tosser / second · seed 2 · done · heads 0.00');
        expect(text).toContain(`session ${hostile.session!}`);
        expect(text).toContain('Toss a coin for the second game.');
        expect(text).toContain('tosser → toss_coin');
        expect(text).toContain(`The coin says: ${HOSTILE}`);
        expect(text).toMatch(/heads\t(conversation|branch)\theads\t0\.00\t/);
        expect(await page.evaluate('document.querySelectorAll("img, script").length')).toBe(0);

        const steady = cellOf('steady', 's1', 1);
        await page.click(`table.grid a[href="#cell-${steady.id}"]`);
        const [shownSteady, steadyText] = await read(`cell-${steady.id}`);
        expect(shownSteady).toBe(true);
        expect(steadyText).toContain('steady delegates to echo\nSay heads.');
        expect(steadyText).toMatch(
          /echo \(delegated by steady\) · c_\w+\ntask from steady\nSay heads\.\necho\nheads\n/,
        );
        expect(steadyText).toContain('echo returns (ok)\nheads\nsteady\nheads, as always');

        const broken = cellOf('broken', 's1', 1);
        await page.click(`table.grid a[href="#cell-${broken.id}"]`);
        const [shownBroken, brokenText] = await read(`cell-${broken.id}`);
        expect(shownBroken).toBe(true);
        expect(brokenText).toContain('failed');
        expect(brokenText).toContain('the session ended failed');
      } finally {
        await browser.close();
      }
    },
    30_000,
  );

  it('a rollout still running: the report shows the cells finished so far and says it is still running', async () => {
    const other = tempWorkspace({
      'rollouts/slow.yaml': stringify({
        name: 'slow',
        teams: { w: { initial_message: 'Weather?', base: { agent_id: 'sleepy', effects: 'dry-run' } } },
        repeats: 40,
        concurrency: 1,
        judge: { evaluators: [{ id: 'sunny', kind: 'assert', assert: [{ contains: 'sunny' }] }] },
      }),
    });
    other.persona({
      id: 'sleepy',
      description: 'Slow weather.',
      model: 'scripted/slow',
      script: [{ when: '.', steps: [{ reply: 'It is sunny.' }] }],
    });
    try {
      // Its own process, stopped by the test once the report is made (40 slow cells would take a while).
      const running = spawn(
        process.execPath,
        [MAIN, 'rollout', 'run', 'rollouts/slow.yaml', '--model', 'scripted/slow'],
        {
          cwd: other.dir,
          env: childEnv(),
          stdio: 'ignore',
        },
      );
      const ended = new Promise<number | null>((resolve) => running.on('close', (code) => resolve(code)));
      const db = join(other.dir, '.p2tui', 'p2tui.db');
      const done = (): number => {
        try {
          return countRows(db, "SELECT count(*) AS n FROM rollout_cells WHERE status = 'done'");
        } catch {
          return 0; // not made yet
        }
      };
      for (let i = 0; i < 200 && done() < 2; i++) await new Promise((r) => setTimeout(r, 50));
      const made = await runCli(['report', 'rollout', 'last', '--json'], { cwd: other.dir });
      expect(made.code, made.stderr).toBe(0);
      const page = readFileSync((JSON.parse(made.stdout) as { report: string }).report, 'utf8');
      expect(page).toContain(
        'running — still running (or stopped without saying so): this report shows the cells finished when it was made',
      );
      expect(page).toMatch(/40 · <span class="good">([2-9]|[1-3]\d) done<\/span>/);
      expect(page).toMatch(/ pending/);
      expect(page).toContain('every agent of every cell ran on scripted/slow (--model)');
      expect(page).toContain('Not every cell ran live (effectful tools were simulated or skipped):');
      expect(page).toContain('w/v1: dry-run');
      running.kill('SIGINT');
      // Interrupted: exit 130, as a Ctrl-C.
      expect(await ended).toBe(130);
      // Read again (here, from the database the run left): now it says how to run the rest.
      const store = new Store({ path: db });
      try {
        const rollout = store.rollouts.get(rolloutIdOf(page))!;
        expect(rollout.status).toBe('interrupted');
        expect(await rolloutReport(store, rollout, new Date())).toContain(
          'interrupted — interrupted (Ctrl-C or a signal): p2tui rollout resume runs the rest',
        );
      } finally {
        store.close();
      }
    } finally {
      other.cleanup();
    }
  }, 30_000);

  it('report rollout last writes <state folder>/reports/<id>.html and says where; an unknown id is exit 2', async () => {
    const last = await p2tui('report', 'rollout', 'last');
    expect(last.code, last.stderr).toBe(0);
    const file = join(ws.dir, '.p2tui', 'reports', `${rolloutId}.html`);
    expect(last.stdout).toBe(`Report of rollout ${rolloutId} written to ${file}\n`);
    // Nothing else said: the plots' library warns nothing (two metrics, so panels) on the way.
    expect(last.stderr).toBe('');
    expect(readFileSync(file, 'utf8')).toContain('<h2 id="transcripts">Transcripts</h2>');
    const unknown = await p2tui('report', 'rollout', 'ro_nosuchrollout');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('E_UNKNOWN_ROLLOUT');
  });
});

describe('a report of a large rollout', () => {
  it('1,000 cells make a report in seconds, a file of a few megabytes, with long texts cut and the cut said', async () => {
    const { store, cleanup } = tempStore();
    try {
      const spec = { teams: { t: { scenarios: ['a', 'b', 'c', 'd'], variants: [{ id: 'v1' }, { id: 'v2' }] } } };
      const ids = Array.from({ length: 1000 }, (_, i) => i);
      const place = (i: number) => ({ variant: `v${(i % 2) + 1}`, scenario: `s${((i >> 1) % 4) + 1}`, repeat: i >> 3 });
      store.rollouts.create(
        {
          id: 'ro_big',
          name: 'big',
          file: 'rollouts/big.yaml',
          spec,
          specHash: 'f'.repeat(64),
          status: 'finished',
          createdAt: 1_700_000_000_000,
          options: {},
        },
        ids.map((i) => ({ id: `c_${i}`, ordinal: i, team: 't', ...place(i), seed: (i >> 3) + 1 })),
      );
      const long = 'x'.repeat(10_000);
      for (const i of ids) {
        const p = place(i);
        if (i % 100 === 7) store.rollouts.finished('ro_big', `c_${i}`, { status: 'failed', error: `boom ${long}` }, 1);
        else
          store.rollouts.finished(
            'ro_big',
            `c_${i}`,
            {
              status: 'done',
              metrics: {
                scores: { quality: p.variant === 'v1' ? 0.5 : ((i * 7) % 10) / 10 },
                steps: 2,
                tokens: 100 + i,
                // Scripted or free models: every cell cost nothing, and the cost plot says so.
                costUsd: 0,
                latencyMs: 20,
                delegations: 0,
                transfers: 0,
                netFlow: {},
                balances: {},
                status: 'finished',
                answer: 'ok',
              },
            },
            1,
          );
      }
      const started = performance.now();
      const page = await rolloutReport(store, store.rollouts.get('ro_big')!, new Date(1_700_000_100_000));
      const seconds = (performance.now() - started) / 1000;
      expect(seconds).toBeLessThan(8);
      // About 0.8 MB here: a browser opens it in well under a second.
      expect(Buffer.byteLength(page)).toBeLessThan(2_000_000);
      expect(page.match(/<li class="run /g)).toHaveLength(1000);
      expect(page.match(/<li class="run failed">/g)).toHaveLength(10);
      // The grid says 160 characters of an error, the transcript 4,000; each says how much it left out.
      expect(page).toContain('… 9,845 more characters');
      expect(page).toContain('… 6,005 more characters');
      expect(page).not.toContain('x'.repeat(4_001));
      expect(page).toContain(
        'Score against cost, one point per finished cell: every cell cost $0 (scripted or free models), so all points sit at 0',
      );
    } finally {
      cleanup();
    }
  }, 30_000);

  it('a rollout none of whose cells has finished: the report says so and draws no plot', async () => {
    const { store, cleanup } = tempStore();
    try {
      store.rollouts.create(
        {
          id: 'ro_fresh',
          name: 'fresh',
          file: 'rollouts/fresh.yaml',
          spec: { teams: { t: { initial_message: 'hi' } } },
          specHash: 'e'.repeat(64),
          status: 'running',
          createdAt: 1_700_000_000_000,
          options: { replayOf: 'ro_before', fork: { session: 's_source', branch: 'b_main', seq: 12 } },
        },
        [1, 2].map((seed, i) => ({
          id: `c_${i}`,
          ordinal: i,
          team: 't',
          variant: 'v1',
          scenario: 's1',
          repeat: i,
          seed,
        })),
      );
      const page = await rolloutReport(store, store.rollouts.get('ro_fresh')!, new Date(1_700_000_100_000));
      expect(page).toContain('No cell has finished yet.');
      expect(page).toContain('No cell was scored (the rollout has no judge, or none ran).');
      expect(page).toContain('No variant to compare: each team has its baseline only.');
      expect(page).toContain('No finished cell has a score yet.');
      expect(page).toContain('No session: the cell has not started.');
      expect(page).not.toContain('<figure');
      // How it runs: a replay, each cell a branch of a session.
      expect(page).toContain(
        'a replay of rollout ro_before (no model calls); each cell a branch of session s_source (b_main at seq 12)',
      );
    } finally {
      cleanup();
    }
  });
});
