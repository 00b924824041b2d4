/**
 * The engine part of `npm run bench` (figures recorded in BENCHMARKS.md).
 *
 *   throughput   persisted steps per second with the scripted model (no latency), many sessions at once
 *   overhead     per-step engine time (render, model call record, decide commit, tool, settle commit), p50 / p99
 *   flatness     per-step cost at step ~1,000 of a conversation against a 10-step conversation
 *   latency      1,000 sessions × 10 steps with a simulated 50 ms model at concurrency 100: wall time vs the ideal
 *                5 s, and peak memory
 *   floor        a bare SQLite transaction of one small insert (WAL, synchronous=NORMAL, prepared, median of many):
 *                what every ratio of a persisted step is measured against (issue 22)
 *   loop         a sequential agent→tool loop (sessions one after another, each 10 or 200 rounds of one model call
 *                and one tool run, every step persisted): µs per model call or tool run, as a multiple of the floor
 *   replay       a recorded 1,000-step session replayed hermetically (as `run --replay-from … --on-miss fail` does,
 *                in this process) against the same workload run live with the zero-latency model
 *
 * A step is one model call and what it leads to (here: one tool call and its result, so two commits).
 * Run: node scripts/bench-engine.ts [--quick] [--otel] [--only=throughput,latency]
 *
 * `--otel`: every bench's app exports its sessions live (as OTEL_EXPORTER_OTLP_ENDPOINT makes `run` do) to a local
 * OTLP/HTTP receiver in this process, which reads and drops what arrives: the figures then include the export's cost.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { App } from '../src/app/app.ts';
import type { Engine } from '../src/engine/engine.ts';
import { loadWorkspace } from '../src/app/workspace.ts';
import { defineTool } from '../src/tools/define.ts';
import type { ModelProvider, ModelRequest, CompleteOptions, ModelResponse } from '../src/models/provider.ts';
import { ScriptedProvider } from '../src/models/scripted/provider.ts';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock } from '../src/core/clock.ts';
import Database from 'better-sqlite3';
import { printMarks, type Mark } from './bench-marks.ts';

const quick = process.argv.includes('--quick');
const marks: Mark[] = [];
const otel = process.argv.includes('--otel');

/** A collector that takes every request and answers 200 (started only with --otel). */
async function receiver(): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
}
const collector = otel ? await receiver() : undefined;

const echo = defineTool({
  name: 'echo',
  description: 'Returns its input.',
  input: z.object({ n: z.number() }),
  effect: 'idempotent',
  run: ({ n }) => ({ n }),
});

/** Records when each model call starts, to time whole steps from the outside. */
class TimedProvider implements ModelProvider {
  readonly id = 'timed';
  readonly simulated = true;
  readonly starts: number[] = [];
  /** Time inside the simulator until its answer (ms): the zero-latency model is not free, and its share is said. */
  modelMs = 0;
  private readonly inner: ScriptedProvider;
  constructor(latencyMs = 0) {
    this.inner = new ScriptedProvider({ latencyMs });
  }
  complete(request: ModelRequest, options: CompleteOptions): Promise<ModelResponse> {
    const started = performance.now();
    this.starts.push(started);
    return this.inner.complete(request, options).finally(() => (this.modelMs += performance.now() - started));
  }
}

interface Bench {
  readonly engine: Engine;
  readonly provider: TimedProvider;
  /** With --otel: sends what the live export has not sent yet (as `run` does before it exits). */
  flush(): Promise<void>;
  close(): void;
}

/** A workspace whose `looper` persona calls `echo` (steps - 1) times, then answers: `steps` model calls. */
async function bench(steps: number, options: { latencyMs?: number; concurrency?: number } = {}): Promise<Bench> {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-'));
  mkdirSync(join(dir, 'personas'));
  writeFileSync(
    join(dir, 'personas', 'looper.yaml'),
    `id: looper
description: Calls a tool in a loop.
model: timed/x
temperature: 0
tools: [echo]
policies: { max_steps: ${steps + 10}, tool_timeout_ms: 60000 }
script:
  - when: '.'
    steps:
      - { call: echo, args: { n: '{{round}}' }, repeat: ${steps - 1} }
      - reply: done
`,
  );
  const provider = new TimedProvider(options.latencyMs ?? 0);
  const workspace = await loadWorkspace(dir, {
    extraTools: [echo],
    configure: (providers) => providers.register(provider),
  });
  const app = new App({ workspace, concurrency: options.concurrency ?? 64 });
  const engine = app.engine;
  let live: { flush(): Promise<void>; stop(): void } | undefined;
  if (collector !== undefined) {
    const { LiveExport, liveSettings } = await import('../src/telemetry/live.ts');
    const exporter = new LiveExport(app.store, liveSettings({}, { endpoint: collector })!, console.warn, systemClock);
    exporter.start();
    live = exporter;
  }
  return {
    engine,
    provider,
    flush: async () => live?.flush(),
    close: () => {
      live?.stop();
      app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function runSessions(b: Bench, count: number): Promise<number> {
  const started = performance.now();
  const sessions = Array.from({ length: count }, () =>
    b.engine.start({
      agent: 'looper',
      message: 'go',
      source: 'api',
      options: b.engine.sessionOptions({ seed: 1, maxSteps: 1_000_000, approval: 'deny' }),
    }),
  );
  const statuses = await Promise.all(sessions.map((s) => s.idle()));
  const bad = statuses.filter((s) => s !== 'finished');
  if (bad.length > 0) throw new Error(`${bad.length} sessions did not finish: ${bad[0]}`);
  const ms = performance.now() - started;
  // The step path is timed; the flush at the end (what `run` waits for before it exits) is said apart.
  if (otel) {
    const flushing = performance.now();
    await b.flush();
    console.log(`  (otel: flush after ${count} sessions ${fmt(performance.now() - flushing)} ms)`);
  }
  return ms;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Durations between consecutive model calls of one sequential conversation: whole steps, as the engine runs them. */
function stepTimes(starts: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < starts.length; i++) out.push(starts[i]! - starts[i - 1]!);
  return out;
}

const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function throughput(): Promise<void> {
  const sessions = quick ? 100 : 400;
  const steps = 50;
  const b = await bench(steps, { concurrency: 128 });
  await runSessions(b, 20); // warm up
  const ms = await runSessions(b, sessions);
  const total = sessions * steps;
  console.log(
    `throughput   ${fmt(total)} steps (${sessions} sessions × ${steps}) in ${fmt(ms)} ms = ${fmt((total / ms) * 1000)} steps/s`,
  );
  b.close();
}

async function overhead(): Promise<void> {
  const b = await bench(quick ? 500 : 2000, { concurrency: 1 });
  await runSessions(b, 1);
  const times = stepTimes(b.provider.starts).sort((x, y) => x - y);
  console.log(
    `overhead     per step, one session alone: p50 ${fmt(percentile(times, 50) * 1000)} µs, p99 ${fmt(percentile(times, 99) * 1000)} µs (${times.length} steps)`,
  );
  b.close();
}

async function flatness(): Promise<void> {
  const short = await bench(10, { concurrency: 1 });
  for (let i = 0; i < 30; i++) await runSessions(short, 1);
  // Per-step time of 10-step conversations, skipping the first session as warm-up.
  const shortTimes: number[] = [];
  const starts = short.provider.starts;
  for (let s = 1; s < 30; s++) shortTimes.push(...stepTimes(starts.slice(s * 10, s * 10 + 10)));
  short.close();
  const long = await bench(1000, { concurrency: 1 });
  await runSessions(long, 1);
  const longTimes = stepTimes(long.provider.starts);
  const median = (xs: number[]): number =>
    percentile(
      [...xs].sort((a, b) => a - b),
      50,
    );
  const atTen = median(shortTimes);
  const atThousand = median(longTimes.slice(-100));
  console.log(
    `flatness     median step at 10 steps ${fmt(atTen * 1000)} µs; at steps 900–1,000 ${fmt(atThousand * 1000)} µs; ratio ${fmt(atThousand / atTen, 2)}× (target ≤ 1.5×)`,
  );
  marks.push({
    target: 'engine flatness: step at 900–1,000 / step of a 10-step conversation',
    measured: `${fmt(atThousand * 1000)} µs / ${fmt(atTen * 1000)} µs`,
    ratio: atThousand / atTen,
    limit: 1.5,
  });
  long.close();
}

async function latency(): Promise<void> {
  const sessions = quick ? 200 : 1000;
  const b = await bench(10, { latencyMs: 50, concurrency: 100 });
  const ideal = (sessions * 10 * 50) / 100;
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const ms = await runSessions(b, sessions);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(
    `latency      ${sessions} sessions × 10 steps, 50 ms model, concurrency 100: ${fmt(ms)} ms vs ideal ${fmt(ideal)} ms (+${fmt(((ms - ideal) / ideal) * 100, 1)}%), peak RSS ${fmt(peak / 2 ** 20)} MiB`,
  );
  marks.push({
    target: `engine latency (${sessions} sessions × 10 steps, 50 ms model, 100 at once): wall time / ideal`,
    measured: `${fmt(ms)} ms / ${fmt(ideal)} ms`,
    ratio: ms / ideal,
    limit: 1.1,
  });
  b.close();
}

/**
 * The floor: one immediate transaction of one small insert into a table with a primary key, on a temp file in WAL
 * mode with synchronous=NORMAL (as the store opens its file), through a prepared statement; the median of many.
 * The loop samples it between its sessions too, so floor and step are measured under the same load.
 */
class Floor {
  private readonly dir = mkdtempSync(join(tmpdir(), 'p2tui-floor-'));
  private readonly db = new Database(join(this.dir, 'floor.db'));
  private readonly insert;
  private readonly begin;
  private readonly commit;
  private times: number[] = [];
  private n = 0;

  constructor() {
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
    this.insert = this.db.prepare('INSERT INTO t (v) VALUES (?)');
    this.begin = this.db.prepare('BEGIN IMMEDIATE');
    this.commit = this.db.prepare('COMMIT');
    // Warms the page cache and the JIT; not counted.
    this.sample(2000);
    this.times = [];
  }

  sample(count: number): void {
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      this.begin.run();
      this.insert.run(`step ${this.n++}`);
      this.commit.run();
      this.times.push(performance.now() - started);
    }
  }

  /** The median of the samples since the last call (µs), then starts a new series. */
  take(): number {
    const median = percentile(
      this.times.sort((a, b) => a - b),
      50,
    );
    this.times = [];
    return median * 1000;
  }

  close(): void {
    this.db.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function measureFloor(): void {
  const floor = new Floor();
  floor.sample(quick ? 3000 : 10_000);
  console.log(
    `floor        one-insert SQLite transaction (WAL, synchronous=NORMAL): median ${fmt(floor.take(), 1)} µs`,
  );
  floor.close();
}

/**
 * Sessions run one after another: each `rounds` model calls that run the tool, then one that answers. Only the
 * sessions are timed; between them the floor is sampled (as many transactions as a session makes steps).
 */
async function loopUs(
  sessions: number,
  rounds: number,
  floor: Floor,
): Promise<{ us: number; medianUs: number; cpuUs: number; modelUs: number }> {
  const b = await bench(rounds + 1, { concurrency: 1 });
  // Per session: rounds + 1 model calls and rounds tool runs.
  const operations = 2 * rounds + 1;
  try {
    let cpu = 0;
    const one = async (): Promise<number> => {
      const cpuBefore = process.cpuUsage();
      const started = performance.now();
      const session = b.engine.start({
        agent: 'looper',
        message: 'go',
        source: 'api',
        options: b.engine.sessionOptions({ seed: 1, maxSteps: 1_000_000, approval: 'deny' }),
      });
      const status = await session.idle();
      if (status !== 'finished') throw new Error(`a loop session ended ${status}`);
      const ms = performance.now() - started;
      const used = process.cpuUsage(cpuBefore);
      cpu += used.user + used.system;
      return ms;
    };
    for (let i = 0; i < Math.max(2, sessions / 10); i++) await one(); // warm up
    floor.take();
    cpu = 0;
    b.provider.modelMs = 0;
    const times: number[] = [];
    for (let i = 0; i < sessions; i++) {
      floor.sample(operations);
      times.push(await one());
    }
    const total = times.reduce((sum, t) => sum + t, 0);
    const median = percentile(
      times.sort((x, y) => x - y),
      50,
    );
    return {
      us: (total * 1000) / (sessions * operations),
      medianUs: (median * 1000) / operations,
      // The process's CPU time (both threads: the WAL checkpointer's too): less disturbed by a loaded machine.
      cpuUs: cpu / (sessions * operations),
      modelUs: (b.provider.modelMs * 1000) / (sessions * operations),
    };
  } finally {
    b.close();
  }
}

async function loop(): Promise<void> {
  const floor = new Floor();
  try {
    for (const [sessions, rounds] of [
      [quick ? 30 : 100, 10],
      [quick ? 3 : 10, 200],
    ] as const) {
      const { us, medianUs, cpuUs, modelUs } = await loopUs(sessions, rounds, floor);
      const floorUs = floor.take();
      const ratio = us / floorUs;
      console.log(
        `loop         ${sessions} sessions × ${rounds} rounds, one at a time: ${fmt(us, 1)} µs per model call or tool run ` +
          `(median session ${fmt(medianUs, 1)} µs, CPU ${fmt(cpuUs, 1)} µs, in the simulated model ${fmt(modelUs, 1)} µs) ` +
          `= ${fmt(ratio, 1)}× the floor of ${fmt(floorUs, 1)} µs sampled between them`,
      );
      marks.push({
        target: `engine step, sequential agent→tool loop ${sessions} × ${rounds} rounds: µs per model call or tool run / floor`,
        measured: `${fmt(us, 1)} µs / ${fmt(floorUs, 1)} µs`,
        ratio,
        limit: 8,
      });
    }
  } finally {
    floor.close();
  }
}

/** A live 1,000-step session, then its replay from the recording (`--on-miss fail`), alternated, medians. */
async function replay(): Promise<void> {
  const steps = quick ? 500 : 1000;
  const rounds = quick ? 3 : 5;
  const b = await bench(steps, { concurrency: 1 });
  try {
    const start = (replayFrom?: string): Promise<{ ms: number; id: string }> => {
      const started = performance.now();
      const session = b.engine.start({
        agent: 'looper',
        message: 'go',
        source: 'api',
        options: b.engine.sessionOptions({
          seed: 1,
          maxSteps: 1_000_000,
          approval: 'deny',
          ...(replayFrom === undefined ? {} : { replay: { from: replayFrom, onMiss: 'fail' as const } }),
        }),
      });
      return session.idle().then((status) => {
        if (status !== 'finished')
          throw new Error(`a ${replayFrom === undefined ? 'live' : 'replayed'} session ended ${status}`);
        return { ms: performance.now() - started, id: session.id };
      });
    };
    const recorded = (await start()).id; // also the warm-up
    await start(recorded);
    const live: number[] = [];
    const replayed: number[] = [];
    for (let i = 0; i < rounds; i++) {
      live.push((await start()).ms);
      replayed.push((await start(recorded)).ms);
    }
    const median = (xs: number[]): number =>
      percentile(
        [...xs].sort((x, y) => x - y),
        50,
      );
    const [l, r] = [median(live), median(replayed)];
    console.log(
      `replay       ${steps}-step session (in process, medians of ${rounds} alternated): live ${fmt(l)} ms, replay --on-miss fail ${fmt(r)} ms = ${fmt(r / l, 2)}×`,
    );
    marks.push({
      target: `engine replay of a ${steps}-step session (--on-miss fail) / the same run live, zero-latency model`,
      measured: `${fmt(r)} ms / ${fmt(l)} ms`,
      ratio: r / l,
      limit: 1.2,
    });
  } finally {
    b.close();
  }
}

console.log(
  `p2tui bench${quick ? ' (quick)' : ''}${otel ? ' with live OTLP export' : ''} — Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} ×${cpus().length}, ${new Date().toISOString().slice(0, 10)}`,
);
// `--only=throughput,latency` runs a subset (for profiling one figure).
const only = process.argv
  .find((a) => a.startsWith('--only='))
  ?.slice('--only='.length)
  .split(',');
const parts = { floor: measureFloor, loop, replay, throughput, overhead, flatness, latency };
for (const [name, run] of Object.entries(parts)) if (!only || only.includes(name)) await run();
printMarks('engine', marks);
