// The published package, as someone who is not in a clone gets it: packs this checkout, installs the tarball into a
// new project made with `npm init -y` (npm 11 writes "type": "commonjs" there), and runs the README's first commands
// with the installed bin (`npx p2tui …`): --help, init and a run of its TypeScript tool, demo, the TUI for a few
// frames in a real pseudo-terminal, a run and a rollout in the demo, and --workspace node_modules/p2tui. Each
// command's output is checked, not only its exit status. Run by .ci/run after `npm test` (it takes a minute or two:
// npm install fetches p2tui's dependencies); `node scripts/pack-check.ts` runs it by hand.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn } from '@lydell/node-pty';
import xterm from '@xterm/headless';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'p2tui-pack-'));
const project = join(work, 'project');
const demo = join(project, 'p2tui-demo');
const started = Date.now();

// Plain output for the checks; the TUI gets colour below. Colour switches from the caller would make the
// children's output differ from what is checked.
const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
delete env['FORCE_COLOR'];

function fail(what: string, result?: SpawnSyncReturns<string>): never {
  process.stderr.write(`\npack-check FAILED: ${what}\n`);
  if (result !== undefined) {
    process.stderr.write(
      `exit status: ${String(result.status)}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}\n`,
    );
  }
  process.stderr.write(`(the folder is kept for a look: ${work})\n`);
  process.exit(1);
}

function run(command: string, args: string[], cwd: string, timeoutMs = 120_000): SpawnSyncReturns<string> {
  return spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, input: '' });
}

/** One step: runs `npx --no -- p2tui <args>` (never the registry: the installed copy or nothing), checks its output. */
function p2tui(args: string[], cwd: string, expect: { status?: number; stdout: RegExp[]; stderr?: RegExp }): string {
  const t0 = Date.now();
  const result = run('npx', ['--no', '--', 'p2tui', ...args], cwd);
  const shown = `npx p2tui ${args.join(' ')}`;
  if (result.status !== (expect.status ?? 0)) fail(`${shown}: exit status ${String(result.status)}`, result);
  for (const pattern of expect.stdout)
    if (!pattern.test(result.stdout)) fail(`${shown}: stdout does not match ${String(pattern)}`, result);
  // Nothing on stderr unless a step expects it: no MODULE_TYPELESS or experimental warnings from Node.
  if (expect.stderr === undefined ? result.stderr !== '' : !expect.stderr.test(result.stderr))
    fail(`${shown}: unexpected stderr`, result);
  console.log(`ok  ${shown}  (${Date.now() - t0} ms)`);
  return result.stdout;
}

console.log(`pack-check in ${work}`);
let t0 = Date.now();
const packed = run('npm', ['pack', '--pack-destination', work, '--no-audit', '--no-fund'], ROOT, 300_000);
if (packed.status !== 0) fail('npm pack', packed);
const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
if (tarball === undefined) fail('npm pack wrote no tarball', packed);
console.log(`ok  npm pack: ${tarball}  (${Date.now() - t0} ms)`);

mkdirSync(project);
const init = run('npm', ['init', '-y'], project);
if (init.status !== 0) fail('npm init -y', init);
const type = (JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { type?: string }).type;
console.log(`ok  npm init -y (package.json "type": ${JSON.stringify(type)})`);
t0 = Date.now();
const install = run('npm', ['install', '--no-audit', '--no-fund', join(work, tarball)], project, 600_000);
if (install.status !== 0) fail('npm install <tarball>', install);
console.log(`ok  npm install ${tarball}  (${Date.now() - t0} ms)`);

p2tui(['--help'], project, {
  stdout: [/^ {2}p2tui <command> \[options\]/m, /^ {2}demo \[dir\] +Copy the demo workspace/m],
});
p2tui(['init'], project, {
  stdout: [/^Created a p2tui workspace in /, /^ {2}npx p2tui run assistant "Count the words of: /m],
});
p2tui(['run', 'assistant', 'Count the words of: the quick brown fox', '--temperature', 'assistant=0'], project, {
  stdout: [/← word_count \(ok.*\) 4 words, 19 characters/, /✓ finished/],
});
p2tui(['demo'], project, {
  stdout: [
    /^Copied the demo workspace into .*p2tui-demo: p2tui\.yaml personas\/ tools\/ rubrics\/ evaluators\/ policies\/ rollouts\//,
    /^ {2}cd p2tui-demo && npx p2tui +\(the TUI/m,
  ],
});
await tui();
p2tui(['run', 'agent_alpha', "What's the weather in Paris and who leads the Premier League?"], demo, {
  stdout: [/agent_helper ▸ ← get_weather \(ok.*Paris: 22 °C/, /agent_beta ▸ ← get_league_leader \(ok/, /✓ finished/],
});
p2tui(['rollout', 'run', 'rollouts/demo_rollout.yaml'], demo, {
  stdout: [/2\/2 cells · 2 done · 0 failed/, /^demo_team +v1 \(baseline\) +1 /m, /^demo_team +v2 +1 /m],
});
// The report's plotting packages (vega, vega-lite) come from the registry install and load from the installed bin.
const reported = p2tui(['report', 'rollout', 'last'], demo, {
  stdout: [/^Report of rollout \S+ written to .*\.p2tui\/reports\/\S+\.html$/m],
});
const reportFile = /written to (\S+\.html)$/m.exec(reported)![1]!;
if (!readFileSync(reportFile, 'utf8').includes('<svg')) fail(`${reportFile} has no plot`);
p2tui(['doctor'], demo, { stdout: [/✓ workspace .*4 personas/, /✓ judge .*grounded: custom.*1 score policies/] });
p2tui(['--workspace', 'node_modules/p2tui', '--db', join(work, 'shipped.db'), 'tools', 'list'], project, {
  stdout: [/^get_weather\s/m, /^calculate\s/m],
});

/** The TUI in the demo, in a real pseudo-terminal: the sessions list, a new session that finishes, then quit. */
async function tui(): Promise<void> {
  const t1 = Date.now();
  const term = new xterm.Terminal({ cols: 120, rows: 32, allowProposedApi: true });
  const tuiEnv: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && key !== 'NO_COLOR') tuiEnv[key] = value;
  // Ink renders nothing live when it believes it runs in CI.
  Object.assign(tuiEnv, { CI: 'false', CONTINUOUS_INTEGRATION: 'false', TERM: 'xterm-256color' });
  const pty = spawn('/bin/sh', ['-c', 'exec npx --no -- p2tui'], {
    name: 'xterm-256color',
    cols: 120,
    rows: 32,
    cwd: demo,
    env: tuiEnv,
  });
  pty.onData((data) => term.write(data));
  const exit = new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
  const screen = (): string => {
    const buffer = term.buffer.active;
    const lines: string[] = [];
    for (let i = 0; i < term.rows; i++) lines.push(buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? '');
    return lines.join('\n');
  };
  const waitFor = async (what: string | RegExp, timeoutMs = 30_000): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      await new Promise<void>((resolve) => term.write('', resolve));
      const s = screen();
      if (typeof what === 'string' ? s.includes(what) : what.test(s)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    pty.kill();
    fail(`the TUI did not show ${String(what)}; the screen was:\n${screen()}`);
  };
  const press = async (keys: string): Promise<void> => {
    pty.write(keys);
    await new Promise((r) => setTimeout(r, 80));
  };
  await waitFor('No sessions yet');
  await press('n');
  await waitFor('choose an agent');
  await press('\r');
  await waitFor('message to agent_alpha ›');
  await press("What's the weather in Paris and who leads the Premier League?");
  await waitFor('who leads the Premier League?');
  await press('\r');
  await waitFor(/agent_alpha ✓ finished/);
  await waitFor(/press i to write a message/);
  await press('q');
  await waitFor(/SESSION\s+STATUS\s+AGENT/);
  await press('q');
  const code = await Promise.race([exit, new Promise<number>((r) => setTimeout(() => r(-1), 10_000))]);
  if (code !== 0) fail(`the TUI exited with ${code} after q`);
  console.log(`ok  npx p2tui (the TUI in a pty: new session, agent_alpha finished, quit)  (${Date.now() - t1} ms)`);
}

rmSync(work, { recursive: true, force: true });
console.log(`pack-check passed in ${Math.round((Date.now() - started) / 1000)} s`);
