import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readWorkspaceConfig } from '../../src/app/config.ts';
import { databaseLine } from '../../src/cli/database-line.ts';
import { MAIN, runCli } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { tempFolders } from '../helpers/folders.ts';

/**
 * Issue 22, target 4: `p2tui --help` and `p2tui session list` load only what they need (scripts/bench-start.ts
 * measures them against `node -e 0`). These tests pin what loads, and that the faster paths say exactly what the
 * full ones say.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/p2tui.js');
const tempFolder = tempFolders('p2tui-start-');

/** Runs `node <entry> <args>` with a resolve hook that lists every module URL Node resolves; returns them. */
async function modulesLoaded(entry: string, args: string[], cwd: string): Promise<string[]> {
  const dir = tempFolder();
  const log = join(dir, 'modules.log');
  const hook = join(dir, 'trace.mjs');
  writeFileSync(log, '');
  writeFileSync(
    hook,
    `import { registerHooks } from 'node:module';\nimport { appendFileSync } from 'node:fs';\n` +
      `registerHooks({ resolve(s, c, next) { const r = next(s, c); appendFileSync(${JSON.stringify(log)}, r.url + '\\n'); return r; } });\n`,
  );
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', hook, entry, ...args], {
      cwd,
      env: childEnv(),
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('close', resolve);
  });
  expect(code).toBe(0);
  return [
    ...new Set(
      readFileSync(log, 'utf8')
        .split('\n')
        .filter((url) => url !== ''),
    ),
  ];
}

/** A workspace made by `p2tui init`, with one finished session. */
async function workspaceWithSession(): Promise<string> {
  const dir = join(tempFolder(), 'ws');
  expect((await runCli(['init', dir])).code).toBe(0);
  expect((await runCli(['run', 'assistant', 'count the words of this'], { cwd: dir })).code).toBe(0);
  return dir;
}

const packages = (urls: readonly string[], names: RegExp): string[] =>
  urls.filter((url) => names.test(url.replace(/.*node_modules\//, '')));

describe('start-up: what --help and session list load', () => {
  it('session list loads neither zod, the YAML parser nor ink/react (from source and built; built, not string-width)', async () => {
    const dir = await workspaceWithSession();
    const heavy = /^(zod|yaml|ink|react|jiti|@opentelemetry)\//;
    // From source the registry is the catalog, so every command's module loads (string-width among their imports).
    const fromSource = await modulesLoaded(MAIN, ['session', 'list'], dir);
    expect(fromSource.some((url) => url.endsWith('/src/store/reader.ts'))).toBe(true);
    expect(packages(fromSource, heavy)).toEqual([]);
    if (!existsSync(join(ROOT, 'dist/commands/manifest.json'))) return; // not built: `npm test` builds first
    const built = await modulesLoaded(BIN, ['session', 'list'], dir);
    expect(packages(built, /^(zod|yaml|string-width|ink|react|jiti|@opentelemetry)\//)).toEqual([]);
    // Of the commands, only session list's own module (and the session views it imports): no other group's.
    const commandModules = built.filter((url) => /\/dist\/commands\/(?!render\/)[^/]+\/[^/]+\.js$/.test(url));
    expect(commandModules).toContain(`file://${ROOT}dist/commands/session/inspect.js`);
    expect(commandModules.filter((url) => !url.includes('/dist/commands/session/'))).toEqual([]);
    expect(commandModules.length).toBeLessThan(4);
  });

  it('the built --help loads no command module and nothing from node_modules', async () => {
    if (!existsSync(join(ROOT, 'dist/commands/manifest.json'))) return; // not built: `npm test` builds first
    const urls = await modulesLoaded(BIN, ['--help'], tempFolder());
    expect(urls.filter((url) => url.includes('/node_modules/'))).toEqual([]);
    expect(urls.filter((url) => /\/dist\/commands\/(?!render\/)[^/]+\/[^/]+\.js$/.test(url))).toEqual([]);
    expect(urls.some((url) => url.endsWith('/dist/commands/registry.js'))).toBe(false);
  });

  it('the built CLI says what the source says: help texts from the manifest equal those from the registry', async () => {
    if (!existsSync(join(ROOT, 'dist/commands/manifest.json'))) return; // not built: `npm test` builds first
    const cwd = tempFolder();
    const cases = [
      ['--help'],
      ['help', 'session'],
      ['session', 'list', '--help'],
      ['rollout'],
      ['conversation'],
      ['help', 'ledger', 'transfer'],
      ['session', 'lst'],
      ['version', 'x'],
    ];
    for (const args of cases) {
      const [source, built] = await Promise.all([
        runCli(args, { cwd }),
        new Promise<{ code: number | null; out: string }>((resolve, reject) => {
          const child = spawn(process.execPath, [BIN, ...args], {
            cwd,
            env: childEnv(),
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          let out = '';
          child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
          child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
          child.on('error', reject);
          child.on('close', (code) => resolve({ code, out }));
        }),
      ]);
      expect({ args, code: built.code, out: built.out }).toEqual({
        args,
        code: source.code,
        out: source.stdout + source.stderr,
      });
    }
  });
});

describe("session list reads p2tui.yaml's database line without the YAML parser", () => {
  const config = (text: string): string => {
    const dir = tempFolder();
    writeFileSync(join(dir, 'p2tui.yaml'), text);
    return dir;
  };

  it('reads a line only when it means what the YAML parser makes of it, and hands every other file to the parser', () => {
    const read = [
      'database: .p2tui/p2tui.db\n',
      'model: scripted/default\ndatabase: data/sessions.db   # where the sessions go\nconcurrency: 4\n',
      "database: 'my data/x.db'\n",
      'database: "/abs/p2tui.db"\n',
      '# a comment\napproval: deny\n',
      '',
    ];
    for (const text of read) {
      const quick = databaseLine(text);
      expect({ text, quick }).not.toEqual({ text, quick: undefined });
      expect({ text, database: quick ?? '.p2tui/p2tui.db' }).toEqual({
        text,
        database: readWorkspaceConfig(config(text)).config.database,
      });
    }
    // The parser's to read: a value that goes on, a non-string, escapes, flow style, two mentions, directives.
    for (const text of [
      'database: a\n  b\n',
      'database: x#y.db\n',
      'database: 12\n',
      'database: true\n',
      'database: "a\\tb"\n',
      '{database: a.db}\n',
      'database: a.db\n# the database\n',
      '%YAML 1.2\n---\ndatabase: a.db\n',
      'database: *anchor\n',
      'judge:\n  database: a.db\n',
      '"d\\u0061tabase": a.db\n',
    ])
      expect({ text, quick: databaseLine(text) }).toEqual({ text, quick: undefined });
  });

  it("session list lists the sessions of the database p2tui.yaml's line names", async () => {
    const dir = await workspaceWithSession();
    const yaml = readFileSync(join(dir, 'p2tui.yaml'), 'utf8');
    // The same sessions through a path of its own, with a comment after it.
    writeFileSync(
      join(dir, 'p2tui.yaml'),
      yaml.replace(/^database: .*$/m, 'database: ./.p2tui/../.p2tui/p2tui.db   # moved'),
    );
    const listed = await runCli(['session', 'list', '--json'], { cwd: dir });
    expect(listed.code).toBe(0);
    expect((JSON.parse(listed.stdout) as unknown[]).length).toBe(1);
    // A database line naming a file that is not there: no sessions, and the path said.
    writeFileSync(join(dir, 'p2tui.yaml'), yaml.replace(/^database: .*$/m, "database: 'elsewhere/none.db'"));
    const none = await runCli(['session', 'list'], { cwd: dir });
    expect(none.code).toBe(0);
    expect(none.stdout).toContain(`there is no database at ${join(dir, 'elsewhere/none.db')} yet`);
  });
});
