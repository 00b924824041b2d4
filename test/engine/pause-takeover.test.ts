import { afterAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempWorkspace } from '../helpers/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';
import { withRawDb } from '../helpers/raw-db.ts';

const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;

/**
 * A paused process must not repeat an effect after another takes over. A real `p2tui run` is stopped with SIGSTOP at
 * a random moment (before, inside or after an effectful tool's run), its lease expires, `session resume` takes the
 * session over and drives it to its end, then the first process gets SIGCONT and goes on. The tool writes
 * "key pid fence" to effects.log when its effect happens: no key may appear twice. Its reconcile finds an effect
 * only once it was written, so a takeover while the first process sits before the write finds nothing.
 *
 * P2TUI_TRIALS raises the number of trials (scripts/pause-takeover.sh runs hundreds).
 */
const LEASE_MS = 300;
const TRIALS = Number(process.env['P2TUI_TRIALS'] ?? 20);
const PARALLEL = 4;

const ws = tempWorkspace({
  'p2tui.yaml': 'approval: deny\nproviders:\n  scripted:\n    latency_ms: 5\n',
  'tools/effects.ts': `import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (ctx: { workspace: string; session: string }) => join(ctx.workspace, ctx.session + '.effects.log');

export const record = defineTool({
  name: 'record', description: 'An effect that can be looked up afterwards.', effect: 'effectful',
  input: z.object({ n: z.number() }),
  async run({ n }, ctx) {
    await sleep(60);
    appendFileSync(log(ctx), ctx.key + ' ' + process.pid + ' ' + ctx.fence + '\\n');
    await sleep(20);
    return { n };
  },
  reconcile(args: { n: number }, ctx) {
    const seen = existsSync(log(ctx)) && readFileSync(log(ctx), 'utf8').split('\\n').some((l) => l.startsWith(ctx.key + ' '));
    return seen ? { n: args.n, reconciled: true } : null;
  },
});
`,
  'personas/worker.yaml': `id: worker
description: Records in rounds.
temperature: 0
tools: [record]
script:
  - when: '.'
    steps:
      - { call: record, args: { n: '{{round}}' }, repeat: 6 }
      - reply: 'all done'
`,
});
afterAll(() => ws.cleanup());

const env = childEnv({ P2TUI_LEASE_MS: String(LEASE_MS) });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function started(args: string[]): { child: ChildProcess; out: () => string; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [MAIN, ...args, '--workspace', ws.dir], { env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out: () => out, exit };
}

interface Trial {
  readonly executions: Map<string, string[]>;
  readonly fences: Set<string>;
  readonly outcomes: string[];
  readonly stoppedMidway: boolean;
  /** The resume took the session over (not refused because the stopped process held the database's write lock). */
  readonly tookOver: boolean;
}

/** One trial: run, SIGSTOP after `delayMs`, wait out the lease, resume to the end, SIGCONT, let the first one end. */
async function trial(index: number, delayMs: number): Promise<Trial> {
  const db = join(ws.dir, `trial-${index}.db`);
  const first = started(['run', 'worker', 'go', '--db', db]);
  let exited = false;
  void first.exit.then(() => (exited = true));
  while (!/session s_\w+/.test(first.out())) {
    if (exited) throw new Error(`the run exited before starting a session: ${first.out()}`);
    await sleep(5);
  }
  const id = /session (s_\w+)/.exec(first.out())![1]!;
  await sleep(delayMs);
  const stoppedMidway = !exited;
  first.child.kill('SIGSTOP');
  await sleep(LEASE_MS + 150);
  const second = started(['session', 'resume', id, '--db', db]);
  const code = await second.exit;
  first.child.kill('SIGCONT');
  await first.exit;
  // Stopped inside a commit, the first process holds SQLite's write lock: the resume says so (E_DB_LOCKED, exit 5)
  // and takes nothing over; the first process then finishes on its own. Anything else is a failure.
  const locked = code === 5 && second.out().includes('E_DB_LOCKED');
  if (code !== 0 && stoppedMidway && !locked)
    throw new Error(`session resume exited ${code}: ${JSON.stringify(second.out())}`);
  const file = join(ws.dir, `${id}.effects.log`);
  const executions = new Map<string, string[]>();
  const fences = new Set<string>();
  for (const line of existsSync(file) ? readFileSync(file, 'utf8').split('\n') : []) {
    if (line === '') continue;
    const [key, pid, fence] = line.split(' ') as [string, string, string];
    executions.set(key, [...(executions.get(key) ?? []), pid]);
    fences.add(fence);
  }
  const outcomes = withRawDb(db, (raw) =>
    (raw.prepare('SELECT result FROM intents WHERE session_id = ?').all(id) as { result: string | null }[]).map((r) =>
      r.result === null ? 'open' : (JSON.parse(r.result) as { payload: { status: string } }).payload.status,
    ),
  );
  return { executions, fences, outcomes, stoppedMidway, tookOver: stoppedMidway && !locked };
}

describe('a paused process and a takeover', () => {
  it(
    `never execute one effect twice (SIGSTOP at random points, ${TRIALS} trials)`,
    async () => {
      const results: Trial[] = [];
      for (let i = 0; i < TRIALS; i += PARALLEL) {
        const batch = Array.from({ length: Math.min(PARALLEL, TRIALS - i) }, (_, j) =>
          // Stop points spread over the six calls (about 90 ms each once the session started).
          trial(i + j, Math.floor(Math.random() * 600)),
        );
        results.push(...(await Promise.all(batch)));
      }
      const doubles = results.flatMap((r) => [...r.executions].filter(([, pids]) => pids.length > 1));
      expect(doubles).toEqual([]);
      // The trials took sessions over mid-way, and both processes did effects in them: the test exercised takeovers.
      const midway = results.filter((r) => r.tookOver);
      expect(midway.length).toBeGreaterThanOrEqual(TRIALS / 2);
      expect(results.some((r) => new Set([...r.executions.values()].flat()).size === 2)).toBe(true);
      // After a takeover the effects of the new holder carry a higher fence.
      expect(results.some((r) => r.fences.size === 2)).toBe(true);
      // Every call of a session that was taken over is settled; one the stopped process may still do is unknown.
      for (const r of midway) expect(r.outcomes.every((s) => s === 'ok' || s === 'unknown')).toBe(true);
    },
    Math.max(120_000, TRIALS * 6_000),
  );

  it('refuses a P2TUI_LEASE_MS that is not a lease lifetime, saying what it takes', () => {
    const r = spawnSync(
      process.execPath,
      [MAIN, 'run', 'worker', 'go', '--workspace', ws.dir, '--db', join(ws.dir, 'bad.db')],
      {
        env: childEnv({ P2TUI_LEASE_MS: '5' }),
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("P2TUI_LEASE_MS must be a whole number of milliseconds from 100 to 3600000, not '5'");
    expect(r.stderr).not.toContain('bug in p2tui');
  });
});
