import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAIN, runCli, type CliResult } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';

// Workspace code (tools, evaluators, score policies) loads wherever the workspace is and whatever package.json is
// near it: as `npm init -y` leaves it ("type": "commonjs"), without a "type", without any, or under node_modules.

const folders: string[] = [];
afterEach(() => {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-code-'));
  folders.push(dir);
  return dir;
}

function write(root: string, files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, file)), { recursive: true });
    writeFileSync(join(root, file), text);
  }
}

const tool = (name: string, typed: boolean): string =>
  `import { defineTool, z } from 'p2tui';\n` +
  (typed ? `type Input = { text: string };\n` : '') +
  `export const ${name} = defineTool({ name: '${name}', description: 'Echo ${name}.', input: z.object({ text: z.string() }),` +
  ` effect: 'pure', run: (${typed ? '{ text }: Input' : '{ text }'}) => '${name}:' + text });\n`;

/** Tools in every format, a custom evaluator and a score policy, and the judge settings that use them. */
const CODE: Record<string, string> = {
  'personas/helper.yaml':
    'id: helper\ndescription: Echoes.\nmodel: scripted/default\ntemperature: 0\ntools: [ts_tool, mts_tool, js_tool, mjs_tool]\n',
  'tools/ts_tool.ts': tool('ts_tool', true),
  'tools/mts_tool.mts': tool('mts_tool', true),
  'tools/js_tool.js': tool('js_tool', false),
  'tools/mjs_tool.mjs': tool('mjs_tool', false),
  // zod and its subpaths resolve to p2tui's own copy, as 'p2tui' does: no zod needs to be installed beside the workspace.
  'tools/zod_tool.ts':
    `import { defineTool } from 'p2tui';\nimport { z } from 'zod/v4';\n` +
    `export const zod_tool = defineTool({ name: 'zod_tool', description: 'Zod.', input: z.object({ n: z.number() }), run: ({ n }: { n: number }) => n });\n`,
  'evaluators/length.ts':
    `import { defineEvaluator } from 'p2tui';\n` +
    `export default defineEvaluator({ id: 'length', evaluate: (m: { answer: string }) => ({ value: m.answer.length > 0 ? 1 : 0 }) });\n`,
  'policies/note.ts':
    `import { defineScorePolicy } from 'p2tui';\n` +
    `export const note = defineScorePolicy({ id: 'note', when: () => false, act: () => undefined });\n`,
  'p2tui.yaml': 'judge:\n  evaluators:\n    - id: length\n      kind: custom\n      evaluator: length\n',
};

const cli = (args: string[], cwd: string): Promise<CliResult> => runCli(args, { cwd });

async function expectAllCodeLoads(workspace: string): Promise<void> {
  const tools = await cli(['--workspace', workspace, 'tools', 'list'], workspace);
  expect(tools.stderr).toBe('');
  expect(tools.code).toBe(0);
  for (const name of ['ts_tool', 'mts_tool', 'js_tool', 'mjs_tool', 'zod_tool'])
    expect(tools.stdout).toMatch(new RegExp(`^${name}\\s`, 'm'));
  const doctor = await cli(['--workspace', workspace, 'doctor'], workspace);
  expect(doctor.stderr).not.toMatch(/Warning|MODULE_TYPELESS|failed to load/);
  expect(doctor.code).toBe(0);
  expect(doctor.stdout).toMatch(/judge .*length: custom.*1 score policies/);
}

describe('workspace code loads wherever the workspace is', () => {
  it('npm init -y\'s "type": "commonjs" package.json: init, then run assistant uses the TypeScript tool', async () => {
    const dir = tempFolder();
    write(dir, { 'package.json': JSON.stringify({ name: 'mine', version: '1.0.0', type: 'commonjs' }) });
    expect((await cli(['init'], dir)).code).toBe(0);
    const run = await cli(
      ['run', 'assistant', 'Count the words of: the quick brown fox', '--temperature', 'assistant=0'],
      dir,
    );
    expect(run.stderr).not.toMatch(/failed to load|Cannot use import statement/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/← word_count \(ok.*4 words, 19 characters/);
  });

  it('.ts, .mts, .js and .mjs tools, an evaluator and a policy: under "type": "commonjs", without "type", and without package.json', async () => {
    for (const packageJson of [{ name: 'cjs', type: 'commonjs' }, { name: 'typeless' }, undefined]) {
      const dir = tempFolder();
      write(dir, CODE);
      if (packageJson !== undefined) write(dir, { 'package.json': JSON.stringify(packageJson) });
      await expectAllCodeLoads(dir);
    }
  });

  it('a workspace inside a node_modules folder (an installed package, --workspace node_modules/<pkg>)', async () => {
    const root = tempFolder();
    write(root, { 'package.json': JSON.stringify({ name: 'app', type: 'commonjs' }) });
    const workspace = join(root, 'node_modules', 'shipped-workspace');
    write(workspace, { ...CODE, 'package.json': JSON.stringify({ name: 'shipped-workspace', version: '1.0.0' }) });
    await expectAllCodeLoads(workspace);
  });

  it('a tool that fails to compile is reported with its file (exit 3)', async () => {
    const dir = tempFolder();
    write(dir, {
      'personas/a.yaml': 'id: a\ndescription: A.\nmodel: scripted/default\n',
      'tools/broken.ts': 'export const x: number = ;\n',
    });
    const result = await cli(['tools', 'list'], dir);
    expect(result.stderr).toMatch(/E_TOOL_INVALID: tools\/broken.ts: failed to load/);
    expect(result.code).toBe(3);
  });
});

describe('the cache of compiled workspace code', () => {
  it("is a folder of the user's own (mode 700); a cache in a folder others can write is not run", async () => {
    const tmp = tempFolder();
    const dir = tempFolder();
    write(dir, {
      'personas/a.yaml': 'id: a\ndescription: A.\nmodel: scripted/default\n',
      'tools/t.ts': tool('real_tool', true),
    });
    const list = (): Promise<CliResult> => runCli(['tools', 'list'], { cwd: dir, env: { TMPDIR: tmp } });
    const first = await list();
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^real_tool\s/m);
    const cache = join(tmp, `p2tui-jiti-${process.getuid!()}`);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    const [cached] = readdirSync(cache).filter((f) => f.startsWith('tools-t.'));
    expect(cached).toBeDefined();
    // What someone who could write to the folder would leave there: other code, ending with the source's hash.
    const path = join(cache, cached!);
    writeFileSync(path, readFileSync(path, 'utf8').replaceAll('real_tool', 'planted_tool'));
    // The user's own folder is trusted (the probe works) ...
    expect((await list()).stdout).toMatch(/^planted_tool\s/m);
    // ... one that others can write to is not: the tool is compiled from its source again.
    chmodSync(cache, 0o777);
    const again = await list();
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/^real_tool\s/m);
    expect(again.stdout).not.toMatch(/planted_tool/);
  });
});

/** Runs the CLI from source with a resolve hook that appends every module URL Node resolves to `log`. */
function runTraced(args: string[], cwd: string, log: string): Promise<number | null> {
  const hook = join(dirname(log), 'trace.mjs');
  writeFileSync(
    hook,
    `import { registerHooks } from 'node:module';\nimport { appendFileSync } from 'node:fs';\n` +
      `registerHooks({ resolve(s, c, next) { const r = next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; } });\n`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', hook, MAIN, ...args], { cwd, env: childEnv(), stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', resolve);
  });
}

describe('start-up', () => {
  it('loads jiti only when the workspace has code: not for --help or session list without tools/', async () => {
    const dir = tempFolder();
    write(dir, { 'personas/a.yaml': 'id: a\ndescription: A.\nmodel: scripted/default\n' });
    const loaded = async (args: string[]): Promise<string> => {
      const log = join(tempFolder(), 'modules.log');
      writeFileSync(log, '');
      expect(await runTraced(args, dir, log)).toBe(0);
      return readFileSync(log, 'utf8');
    };
    for (const args of [['--help'], ['session', 'list'], ['agents', 'list']]) {
      const modules = await loaded(args);
      expect(modules).toMatch(/src\/cli\/main\.ts/);
      expect(modules.split('\n').filter((url) => /node_modules\/jiti\//.test(url))).toEqual([]);
    }
    // --help builds every command's options, so their modules load: none of them may pull in zod (a hundred modules;
    // `ledger audit`'s event kinds once did, through the ledger's templates).
    expect((await loaded(['--help'])).split('\n').filter((url) => /node_modules\/zod\//.test(url))).toEqual([]);
    // session list reads p2tui.yaml's database line and the database's read side alone: no YAML parser, no zod
    // (the Store's bundle checks); test/cli/start-up.test.ts has the built bin's probes.
    expect(
      (await loaded(['session', 'list'])).split('\n').filter((url) => /node_modules\/(zod|yaml)\//.test(url)),
    ).toEqual([]);
    // The same probe sees jiti once there is a tool to load.
    write(dir, { 'tools/t.ts': tool('t', true) });
    expect(await loaded(['tools', 'list'])).toMatch(/node_modules\/jiti\//);
  });

  it('loads no @opentelemetry module for --help or session list; session export --format otlp loads them', async () => {
    const dir = tempFolder();
    write(dir, { 'personas/a.yaml': 'id: a\ndescription: A.\nmodel: scripted/default\n' });
    const otel = async (args: string[]): Promise<string[]> => {
      const log = join(tempFolder(), 'modules.log');
      writeFileSync(log, '');
      expect(await runTraced(args, dir, log)).toBe(0);
      const modules = readFileSync(log, 'utf8');
      expect(modules).toMatch(/src\/cli\/main\.ts/);
      return modules.split('\n').filter((url) => /node_modules\/@opentelemetry\//.test(url));
    };
    expect(await otel(['--help'])).toEqual([]);
    expect(await otel(['session', 'list'])).toEqual([]);
    expect(await otel(['run', 'a', 'hello'])).toEqual([]);
    expect(await otel(['session', 'export', 'last'])).toEqual([]);
    // The same probe sees them when a trace is exported.
    expect(
      (await otel(['session', 'export', 'last', '--format', 'otlp', '--out', join(dir, 'trace.json')])).join('\n'),
    ).toMatch(/@opentelemetry\/otlp-transformer/);
  });

  it('loads no plotting module (vega, vega-lite) for --help, session list or run; report session does', async () => {
    const dir = tempFolder();
    write(dir, { 'personas/a.yaml': 'id: a\ndescription: A.\nmodel: scripted/default\n' });
    const plotting = async (args: string[]): Promise<string[]> => {
      const log = join(tempFolder(), 'modules.log');
      writeFileSync(log, '');
      expect(await runTraced(args, dir, log)).toBe(0);
      return readFileSync(log, 'utf8')
        .split('\n')
        .filter((url) => /node_modules\/vega(-lite)?\//.test(url));
    };
    expect(await plotting(['--help'])).toEqual([]);
    expect(await plotting(['session', 'list'])).toEqual([]);
    expect(await plotting(['run', 'a', 'hello'])).toEqual([]);
    // A session report has its plot: it is the command that loads them.
    const report = await plotting(['report', 'session', 'last', '--out', join(tempFolder(), 'r.html')]);
    expect(report.some((url) => /node_modules\/vega\//.test(url))).toBe(true);
  });
});
