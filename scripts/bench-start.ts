/**
 * CLI start (issue 22, target 4): `p2tui --help` and `p2tui session list` (in a workspace made by `p2tui init`, with a
 * few sessions) against `node -e 0`, the floor of any Node program on this machine, in the same run: the three
 * commands alternate, each run many times, and the medians are compared. The built bin (bin/p2tui.js and dist/) is
 * measured, as a user runs it; it is built first when dist/ is missing.
 *
 * Run: node scripts/bench-start.ts [--quick]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { printMarks, type Mark } from './bench-marks.ts';

const quick = process.argv.includes('--quick');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'p2tui.js');
const LIMIT = 3;

if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
  const build = spawnSync(process.execPath, [join(ROOT, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
}

// The environment of a user's shell, without a collector (an OTEL_* endpoint would load the exporter for `run`).
const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: '1' };
for (const name of Object.keys(env)) if (name.startsWith('OTEL_')) delete env[name];

function run(args: readonly string[], cwd: string): { ms: number; stdout: string } {
  const started = performance.now();
  const r = spawnSync(process.execPath, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ms = performance.now() - started;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

const dir = mkdtempSync(join(tmpdir(), 'p2tui-bench-start-'));
try {
  const workspace = join(dir, 'ws');
  run([BIN, 'init', workspace], dir);
  for (let i = 0; i < 3; i++) run([BIN, 'run', 'assistant', `count the words of sentence ${i}`], workspace);
  const listed = run([BIN, 'session', 'list'], workspace).stdout;
  if (listed.split('\n').filter((l) => l.startsWith('s_')).length !== 3) throw new Error(`session list:\n${listed}`);

  const commands = [
    { name: 'node -e 0', args: ['-e', '0'] },
    { name: 'p2tui --help', args: [BIN, '--help'] },
    { name: 'p2tui session list', args: [BIN, 'session', 'list'] },
  ];
  const rounds = quick ? 10 : 40;
  const times = commands.map(() => [] as number[]);
  // Warm-up rounds fill the OS file cache and Node's compile cache (the bin turns it on), as for a user's second start.
  for (let round = quick ? -2 : -3; round < rounds; round++)
    commands.forEach((command, i) => {
      const { ms } = run(command.args, workspace);
      if (round >= 0) times[i]!.push(ms);
    });
  const median = (list: number[]): number => {
    const sorted = [...list].sort((a, b) => a - b);
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const medians = times.map(median);
  console.log(
    `p2tui start-up bench${quick ? ' (quick)' : ''} — Node ${process.version}, ${cpus()[0]?.model ?? 'cpu'} ×${cpus().length}, ` +
      `${new Date().toISOString().slice(0, 10)}; ${rounds} alternating runs of each, medians`,
  );
  commands.forEach((command, i) => {
    const sorted = [...times[i]!].sort((a, b) => a - b);
    console.log(
      `  ${command.name.padEnd(20)} median ${medians[i]!.toFixed(1)} ms (min ${sorted[0]!.toFixed(1)}, max ${sorted.at(-1)!.toFixed(1)})`,
    );
  });
  const floor = medians[0]!;
  const marks: Mark[] = commands.slice(1).map((command, i) => ({
    target: `CLI start: ${command.name} / node -e 0`,
    measured: `${medians[i + 1]!.toFixed(1)} ms / ${floor.toFixed(1)} ms`,
    ratio: medians[i + 1]! / floor,
    limit: LIMIT,
  }));
  printMarks('start', marks);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
