/**
 * Rollout figures (issue 8, as ratios since issue 22; the lead records them in BENCHMARKS.md):
 *
 *   process     the whole `p2tui rollout run` process (node bin/p2tui.js, the built dist: what a user runs), in a
 *               temp workspace: cells of one 100 ms model call (the scripted model's `latency_ms`) and a `contains`
 *               assertion, 100 at once. 10,000 cells (ideal 10 s) and 1,000 cells (ideal 1 s, process start
 *               included): wall time / ideal, peak RSS / 250 MB, and RSS(10,000) / RSS(1,000) for flat memory
 *   runner      1,000 cells of 3 steps (two tool calls and an answer), 100 ms per model call, 100 at once, in this
 *               process (ideal 1,000 / 100 × 3 × 100 ms = 3 s)
 *
 * Peak RSS is the child's own high-water mark: /usr/bin/time's maximum resident set when it is installed, else
 * VmHWM from /proc/<pid>/status polled every 20 ms. `--quick`: 1,000 and 2,000 cells for the process runs.
 *
 * Needs the build (`npm run build`); it is rebuilt here when a file under src/ is newer than it.
 * Run: node scripts/bench-rollout.ts [--quick] [--only=process|runner]
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from '../src/app/app.ts';
import { loadWorkspace } from '../src/app/workspace.ts';
import { RolloutRunner } from '../src/rollout/runner.ts';
import { parseRolloutSpec } from '../src/rollout/spec.ts';
import { defineTool } from '../src/tools/define.ts';
import { z } from 'zod';
import { printMarks, type Mark } from './bench-marks.ts';

const lookup = defineTool({
  name: 'lookup',
  description: 'Looks something up.',
  input: z.object({ q: z.string() }),
  effect: 'pure',
  cacheTtlMs: 0,
  run: ({ q }) => `${q}: sunny`,
});

const quick = process.argv.includes('--quick');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RSS_LIMIT_MB = 250;
const fmt = (n: number, digits = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

/** The newest modification time under a folder (files only). */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/** The bin runs dist/: built when missing or older than a source file, so the figures are of this checkout. */
function ensureBuilt(): void {
  const main = join(ROOT, 'dist', 'cli', 'main.js');
  if (existsSync(main) && statSync(main).mtimeMs >= newest(join(ROOT, 'src'))) return;
  console.log('rollout: building dist/ (older than src/) …');
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  if (built.status !== 0) throw new Error('npm run build failed');
}

/** A workspace whose one persona answers "sunny" in one model call of `latencyMs`, and a spec of `cells` cells. */
function processWorkspace(cells: number, latencyMs: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-rollout-'));
  mkdirSync(join(dir, 'personas'));
  mkdirSync(join(dir, 'rollouts'));
  writeFileSync(
    join(dir, 'personas', 'w.yaml'),
    "id: w\ndescription: Answers at once.\ntemperature: 0\nscript:\n  - when: '.'\n    steps:\n      - reply: 'sunny'\n",
  );
  writeFileSync(
    join(dir, 'p2tui.yaml'),
    `concurrency: 1000\nproviders:\n  scripted:\n    latency_ms: ${latencyMs}\n    concurrency: 1000\n`,
  );
  writeFileSync(
    join(dir, 'rollouts', 'bench.yaml'),
    'teams:\n  t:\n    initial_message: weather\n    base: { agent_id: w }\n' +
      `repeats: ${cells}\nconcurrency: 100\n` +
      'judge:\n  workspace: false\n  evaluators: [{ id: sunny, kind: assert, assert: [{ contains: sunny }], on: demand }]\n',
  );
  return dir;
}

/** The child's peak resident set in MB: VmHWM (the kernel's high-water mark) while it lives. */
function vmHwmMb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? undefined : Number(m[1]) / 1024;
  } catch {
    return undefined;
  }
}

const TIME = '/usr/bin/time';

/** Runs `p2tui rollout run` of `cells` cells as its own process: its wall time, peak RSS and exit code. */
async function runProcess(
  cells: number,
): Promise<{ wallMs: number; peakRssMb: number; cpuMs: number | undefined; code: number | null; tail: string }> {
  const dir = processWorkspace(cells, 100);
  const rssFile = join(dir, 'rss.txt');
  const bin = [join(ROOT, 'bin', 'p2tui.js'), 'rollout', 'run', 'rollouts/bench.yaml'];
  const timed = existsSync(TIME);
  const started = performance.now();
  const child = spawn(
    timed ? TIME : process.execPath,
    timed ? ['-f', '%M %U %S', '-o', rssFile, process.execPath, ...bin] : bin,
    { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } },
  );
  let out = '';
  // Read as it comes (a full pipe would stall the child); only the end is kept, for a failure's message.
  child.stdout.on('data', (chunk: Buffer) => (out = (out + chunk.toString('utf8')).slice(-4000)));
  child.stderr.on('data', (chunk: Buffer) => (out = (out + chunk.toString('utf8')).slice(-4000)));
  let polled = 0;
  // With /usr/bin/time the pid is time's: its child's VmHWM is read from the rss file instead.
  const poll = timed ? undefined : setInterval(() => (polled = Math.max(polled, vmHwmMb(child.pid!) ?? 0)), 20);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const wallMs = performance.now() - started;
  if (poll !== undefined) clearInterval(poll);
  // time's last line: peak RSS in kB, user and system CPU seconds (the CPU time is steadier than the wall time on a
  // busy machine: it compares two builds when other work competes for the cores).
  const [rssKb, user, sys] = timed
    ? readFileSync(rssFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number)
    : [];
  rmSync(dir, { recursive: true, force: true });
  return {
    wallMs,
    peakRssMb: rssKb === undefined ? polled : rssKb / 1024,
    cpuMs: user === undefined || sys === undefined ? undefined : (user + sys) * 1000,
    code,
    tail: out,
  };
}

/** The 3-step runner workspace (issue 8): a persona that looks the weather up twice and answers. */
function runnerWorkspace(latencyMs: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-rollout-'));
  mkdirSync(join(dir, 'personas'));
  writeFileSync(
    join(dir, 'personas', 'w.yaml'),
    "id: w\ndescription: Looks the weather up twice.\ntemperature: 0\ntools: [lookup]\nscript:\n  - when: '.'\n    steps:\n      - call: lookup\n        args: { q: Paris }\n      - call: lookup\n        args: { q: Oslo }\n      - reply: 'Paris and Oslo: {{result}}'\n",
  );
  writeFileSync(
    join(dir, 'p2tui.yaml'),
    `concurrency: 1000\nproviders:\n  scripted:\n    latency_ms: ${latencyMs}\n    concurrency: 1000\n`,
  );
  return dir;
}

async function runInProcess(
  cells: number,
  concurrency: number,
  latencyMs: number,
): Promise<{ wallMs: number; peakRssMb: number; failed: number }> {
  const dir = runnerWorkspace(latencyMs);
  const ws = await loadWorkspace(dir, { extraTools: [lookup] });
  const app = new App({ workspace: ws, judge: false });
  const spec = parseRolloutSpec(
    `teams:\n  t:\n    initial_message: weather\n    base: { agent_id: w }\nrepeats: ${cells}\nconcurrency: ${concurrency}\njudge: { workspace: false }\n`,
    'bench.yaml',
    ws,
  );
  let peak = process.memoryUsage().rss;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
  const started = performance.now();
  const outcome = await new RolloutRunner(app).start(spec);
  const wallMs = performance.now() - started;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  app.close();
  rmSync(dir, { recursive: true, force: true });
  return { wallMs, peakRssMb: peak / 2 ** 20, failed: outcome.cells.filter((c) => c.status !== 'done').length };
}

// `--only=process` or `--only=runner`: one half (to compare two builds one after another on a busy machine).
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const marks: Mark[] = [];
if (only !== 'runner') {
  ensureBuilt();
  const [small, large] = quick ? [1_000, 2_000] : [1_000, 10_000];
  const figures = new Map<number, { wallMs: number; peakRssMb: number }>();
  for (const cells of [small, large]) {
    const r = await runProcess(cells);
    if (r.code !== 0) throw new Error(`rollout run of ${cells} cells exited ${r.code}:\n${r.tail}`);
    const ideal = (cells / 100) * 100;
    figures.set(cells, r);
    console.log(
      `rollout process: ${fmt(cells)} cells of one 100 ms model call + contains, 100 at once: ${fmt(r.wallMs)} ms ` +
        `against the ideal ${fmt(ideal)} ms (${fmt((r.wallMs / ideal - 1) * 100, 1)}% over), peak RSS ${fmt(r.peakRssMb)} MB` +
        (r.cpuMs === undefined ? '' : `, CPU ${fmt(r.cpuMs)} ms (${fmt((r.cpuMs / cells) * 1000)} µs per cell)`),
    );
    marks.push({
      target: `rollout ${fmt(cells)} cells (the whole process): wall time / ideal`,
      measured: `${fmt(r.wallMs / 1000, 2)} s / ${fmt(ideal / 1000, 1)} s`,
      ratio: r.wallMs / ideal,
      limit: cells === small ? 1.25 : 1.1,
    });
    marks.push({
      target: `rollout ${fmt(cells)} cells: peak RSS / ${RSS_LIMIT_MB} MB`,
      measured: `${fmt(r.peakRssMb)} MB / ${RSS_LIMIT_MB} MB`,
      ratio: r.peakRssMb / RSS_LIMIT_MB,
      limit: 1,
    });
  }
  const [a, b] = [figures.get(small)!, figures.get(large)!];
  marks.push({
    target: `rollout memory flat: peak RSS at ${fmt(large)} / at ${fmt(small)} cells`,
    measured: `${fmt(b.peakRssMb)} MB / ${fmt(a.peakRssMb)} MB`,
    ratio: b.peakRssMb / a.peakRssMb,
    limit: 1.1,
  });
}
if (only !== 'process') {
  const n = 1_000;
  const ideal = (n / 100) * 3 * 100;
  const r = await runInProcess(n, 100, 100);
  console.log(
    `rollout runner: ${fmt(n)} cells × 3 steps, model latency 100 ms, 100 at once: ${fmt(r.wallMs)} ms against the ideal ` +
      `${fmt(ideal)} ms (${fmt(((r.wallMs - ideal) / ideal) * 100, 1)}% over), ${r.failed} failed; peak RSS ${fmt(r.peakRssMb)} MB`,
  );
  marks.push({
    target: `rollout runner ${fmt(n)} cells × 3 steps (in process): wall time / ideal`,
    measured: `${fmt(r.wallMs / 1000, 2)} s / ${fmt(ideal / 1000, 1)} s`,
    ratio: r.wallMs / ideal,
    limit: 1.1,
  });
}
printMarks('rollout', marks);
