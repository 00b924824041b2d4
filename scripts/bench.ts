/**
 * `npm run bench`: every part of the benchmark, each in its own process (one part's heap, caches and database
 * files never colour the next one's figures), then one summary of every target with its ratio, its limit and a
 * pass/FAIL word (issue 22).
 *
 * Run: node scripts/bench.ts [--quick] [--otel] [--only=engine,start,…]
 *
 * `--quick` and `--otel` reach every part (a part that has no use for one ignores it). Each part's output is shown as
 * it comes; the `BENCH-MARKS` line it ends with (scripts/bench-marks.ts) is read, not shown. A target that is missed
 * does not fail the run (benchmarks are not tests; the summary counts them); a part that crashes, or ends without
 * its marks line when it promised one, does: exit code 1.
 */
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { MARKS_PREFIX, markLine, passes, type Mark } from './bench-marks.ts';

export interface Part {
  readonly name: string;
  /** Arguments of `node` before the runner's own flags: the script, and Node's options it needs. */
  readonly node: readonly string[];
  /** The part measures the built bin (dist/): `npm run build` runs once before the first such part. */
  readonly needsBuild?: boolean;
  /** Why the part has no marks line (its figures have no target in issue 22 or BENCHMARKS.md): no line is expected. */
  readonly noMarks?: string;
}

const script = (name: string): string => fileURLToPath(new URL(name, import.meta.url));

export const PARTS: readonly Part[] = [
  { name: 'engine', node: [script('bench-engine.ts')] },
  { name: 'branches', node: [script('bench-branches.ts')] },
  { name: 'judge', node: [script('bench-judge.ts')] },
  { name: 'ledger', node: [script('bench-ledger.ts')] },
  // The rollout part runs the built bin as `p2tui rollout run` processes and reads their peak memory.
  { name: 'rollout', node: [script('bench-rollout.ts')], needsBuild: true },
  {
    name: 'rollout-queue',
    node: [script('bench-rollout-queue.ts')],
    noMarks: 'the queue through Redis has no target in issue 22 or BENCHMARKS.md (its figures are above)',
  },
  { name: 'tui', node: [script('bench-tui.ts')], needsBuild: true },
  { name: 'start', node: [script('bench-start.ts')], needsBuild: true },
];

/** What became of one part. */
export interface PartResult {
  readonly part: string;
  readonly marks: readonly Mark[];
  /** Why the part counts as crashed (exit status, signal, no marks line), or undefined when it ran to its end. */
  readonly crashed?: string;
  readonly noMarks?: string;
  readonly seconds: number;
}

/** Runs one part, its stdout streamed to `write` (but for the marks line) and its stderr passed through. */
export function runPart(part: Part, flags: readonly string[], write: (text: string) => void): Promise<PartResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...part.node, ...flags], { stdio: ['ignore', 'pipe', 'inherit'] });
    const marks: Mark[] = [];
    let seen = false;
    let pending = '';
    const take = (line: string): void => {
      if (!line.startsWith(MARKS_PREFIX)) {
        write(`${line}\n`);
        return;
      }
      seen = true;
      try {
        const parsed = JSON.parse(line.slice(MARKS_PREFIX.length)) as { marks?: Mark[] };
        marks.push(...(parsed.marks ?? []));
      } catch {
        // A torn or hand-edited line: shown, so the crash report below has something to point at.
        write(`${line}\n`);
        seen = false;
      }
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) take(line);
    });
    const finish = (crashed: string | undefined): void => {
      if (pending !== '') take(pending);
      pending = '';
      const seconds = (performance.now() - started) / 1000;
      resolve({
        part: part.name,
        marks,
        seconds,
        ...(crashed === undefined ? {} : { crashed }),
        ...(part.noMarks === undefined ? {} : { noMarks: part.noMarks }),
      });
    };
    child.on('error', (error) => finish(`could not start: ${error.message}`));
    child.on('close', (code, signal) => {
      if (pending !== '') take(pending);
      pending = '';
      if (signal !== null) finish(`killed by ${signal}`);
      else if (code !== 0) finish(`exit code ${code}`);
      else if (!seen && part.noMarks === undefined) finish('ended without its BENCH-MARKS line');
      else finish(undefined);
    });
  });
}

/** The summary: one line per target, a line per crashed part, and the counts; `failed` is the exit code. */
export function summary(results: readonly PartResult[]): { lines: string[]; crashed: number; failed: number } {
  const lines = ['', '== Summary: every target as a ratio measured in this run =='];
  let failed = 0;
  let crashed = 0;
  let count = 0;
  const width = Math.max(...results.map((r) => r.part.length));
  for (const result of results) {
    const name = result.part.padEnd(width);
    const time = `(${result.seconds.toFixed(1)} s)`;
    if (result.crashed !== undefined) {
      crashed += 1;
      lines.push(`${name}  CRASHED: ${result.crashed} ${time}`);
    } else if (result.marks.length === 0) {
      lines.push(`${name}  no targets: ${result.noMarks ?? 'the part printed no marks'} ${time}`);
    } else lines.push(`${name}  ${time}`);
    for (const mark of result.marks) {
      count += 1;
      if (!passes(mark)) failed += 1;
      lines.push(`${''.padEnd(width)}  ${markLine(mark)}`);
    }
  }
  const total = results.reduce((sum, r) => sum + r.seconds, 0);
  lines.push(
    '',
    `${count} target${count === 1 ? '' : 's'}: ${count - failed} pass, ${failed} FAIL` +
      (crashed === 0 ? '' : `; ${crashed} part${crashed === 1 ? '' : 's'} CRASHED`) +
      ` — ${results.length} part${results.length === 1 ? '' : 's'} in ${total.toFixed(0)} s`,
  );
  return { lines, crashed, failed };
}

/** Runs the parts one after another (they measure; two at once would measure each other) and prints the summary. */
export async function runBench(
  parts: readonly Part[],
  flags: readonly string[],
  write: (text: string) => void,
  build: () => boolean = buildDist,
): Promise<number> {
  const results: PartResult[] = [];
  let built: boolean | undefined;
  for (const part of parts) {
    write(`\n== ${part.name}: node ${[...part.node.map(shortPath), ...flags].join(' ')} ==\n`);
    if (part.needsBuild === true) {
      built ??= build();
      if (!built) {
        results.push({ part: part.name, marks: [], seconds: 0, crashed: '`npm run build` failed' });
        continue;
      }
    }
    results.push(await runPart(part, flags, write));
  }
  const { lines, crashed } = summary(results);
  write(`${lines.join('\n')}\n`);
  return crashed === 0 ? 0 : 1;
}

function buildDist(): boolean {
  return spawnSync(process.execPath, [script('build.mjs')], { stdio: 'inherit' }).status === 0;
}

function shortPath(arg: string): string {
  const root = fileURLToPath(new URL('..', import.meta.url));
  return arg.startsWith(root) ? arg.slice(root.length) : arg;
}

/** The parts `--only=a,b` names, in the runner's order; a name that is no part is refused (exit code 2). */
export function selectParts(argv: readonly string[], parts: readonly Part[] = PARTS): readonly Part[] | string {
  const only = argv.find((a) => a.startsWith('--only='));
  if (only === undefined) return parts;
  const names = only
    .slice('--only='.length)
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  const unknown = names.filter((n) => !parts.some((p) => p.name === n));
  if (unknown.length > 0 || names.length === 0)
    return `--only: ${unknown.length > 0 ? `no part named ${unknown.join(', ')}` : 'no part named'}; the parts: ${parts.map((p) => p.name).join(', ')}`;
  return parts.filter((p) => names.includes(p.name));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const selected = selectParts(argv);
  if (typeof selected === 'string') {
    process.stderr.write(`${selected}\n`);
    process.exit(2);
  }
  // Only the flags every part knows are passed on; --only is the runner's own (bench-engine has one of its own).
  const flags = argv.filter((a) => a === '--quick' || a === '--otel');
  process.exitCode = await runBench(selected, flags, (text) => process.stdout.write(text));
}
