import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/cli/main.ts';
import { COMMANDS } from '../../src/commands/registry.ts';
import { runCommand } from '../../src/commands/run/run.ts';
import { ledgerInitCommand } from '../../src/commands/ledger/wallets.ts';
import { EXIT, type Command } from '../../src/commands/types.ts';
import { isP2Error, knownFailureOf, messageOf } from '../../src/core/errors.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { withRawDb } from '../helpers/raw-db.ts';
import { commandContext } from './helpers.ts';

/**
 * Every command of the registry, run in this process as the CLI runs it (argv through the CLI's parser, errors
 * through the CLI's reporting), with hostile arguments: huge, negative, fractional, empty, unicode and control
 * characters, and paths that are folders, files, missing, unwritable or under /proc. Whatever the input, the
 * command ends with a documented exit code and never reports E_INTERNAL ("This is a bug in p2tui").
 * A longer search, outside npm test: P2TUI_HOSTILE_SEED=<n> P2TUI_HOSTILE_RUNS=<n> npx vitest run <this file>.
 */

const DOCUMENTED = new Set<number>(Object.values(EXIT));

/** Commands that serve or wait by design: they get the hostile values too, but are stopped (Ctrl-C) soon. */
const LONG_RUNNING = new Set(['ledger serve', 'worker', 'session watch', 'events tail', 'chat', 'rollout run']);

let ws: TempWorkspace;
let paths: Record<'folder' | 'file' | 'missing' | 'unwritable' | 'proc' | 'nested', string>;
let immutable: string | undefined;
/** A p2tui database damaged mid-file: only ever given as --db. */
let damaged = '';
const cwd = process.cwd();

beforeAll(async () => {
  ws = tempWorkspace();
  ws.persona({ id: 'alpha', description: 'Answers.', tools: ['check_balance'], balance: 100 });
  ws.write('p2tui.yaml', 'database: .p2tui/p2tui.db\n');
  const folder = join(ws.dir, 'a folder');
  mkdirSync(folder);
  const file = join(ws.dir, 'a-file.txt');
  writeFileSync(file, 'not a database\n');
  const unwritable = join(ws.dir, 'locked');
  mkdirSync(unwritable);
  // Root ignores file modes: the immutable flag is what refuses root too (when chattr works here).
  if (spawnSync('chattr', ['+i', unwritable]).status === 0) immutable = unwritable;
  paths = {
    folder,
    file,
    missing: join(ws.dir, 'no', 'such', 'folder', 'x.json'),
    unwritable: join(unwritable, 'x.json'),
    proc: '/proc/nope/x.db',
    nested: join(file, 'below-a-file.json'),
  };
  // Relative paths (session export's default file, --out x) land in the workspace, not in the repository.
  process.chdir(ws.dir);
  // A session, its ledger and an evaluation, so that 'last' and 'main' resolve.
  const ctx = commandContext(ws.dir);
  try {
    expect((await ctx.run(ledgerInitCommand, [])).exitCode).toBe(EXIT.ok);
    expect((await ctx.run(runCommand, ['alpha', 'hello', '--temperature', '0'])).exitCode).toBe(EXIT.ok);
  } finally {
    await ctx.close();
  }
  // A copy of that database damaged mid-file (the ledger's parties and the event log), as a bad sector would.
  damaged = join(ws.dir, 'damaged.db');
  const source = join(ws.dir, '.p2tui', 'p2tui.db');
  const pages = withRawDb(source, (raw) => {
    raw.pragma('wal_checkpoint(TRUNCATE)');
    const rows = raw.prepare("SELECT pageno FROM dbstat WHERE name IN ('ledger_parties', 'events')").all();
    return (rows as { pageno: number }[]).map((r) => r.pageno);
  });
  copyFileSync(source, damaged);
  const fd = openSync(damaged, 'r+');
  for (const page of pages) writeSync(fd, Buffer.alloc(8, 0xee), 0, 8, (page - 1) * 4096);
  closeSync(fd);
});

afterAll(() => {
  process.chdir(cwd);
  if (immutable !== undefined) spawnSync('chattr', ['-i', immutable]);
  ws.cleanup();
});

const hostileNumber = fc.oneof(
  { arbitrary: fc.constantFrom('1', '3', '20'), weight: 1 },
  fc.constantFrom(
    '99999999999999999999',
    '-99999999999999999999',
    '9007199254740993',
    '-1',
    '0',
    '1.5',
    '',
    ' ',
    'NaN',
    'Infinity',
    '1e400',
    '٣',
    '0x10',
    '7',
  ),
);

function hostileString(): fc.Arbitrary<string> {
  return fc.oneof(
    // Values that resolve (the session, its branch, the agent), so commands get past the lookup to their work.
    { arbitrary: fc.constantFrom('last', 'main', 'alpha', 'quality', 'hello'), weight: 2 },
    fc.constantFrom(
      '',
      ' ',
      '-',
      'last',
      'ü∂ƒ 💥',
      '\u0000\u001b[2J',
      'x'.repeat(5000),
      '../../../../../etc/passwd',
      's_',
      'main',
      'alpha',
      '*',
      '%s%n',
    ),
    fc.constantFrom(...Object.values(paths)),
    fc.string({ maxLength: 12 }),
  );
}

/** argv for a command: its words, then a value for each argument and a random subset of its options. */
function argvFor(command: Command): fc.Arbitrary<string[]> {
  const args = fc.tuple(...command.args.map(() => hostileString()));
  const options = fc
    .subarray([...command.options])
    .chain((chosen) =>
      fc.tuple(
        ...chosen.map((spec) =>
          spec.type === 'boolean'
            ? fc.constant([`--${spec.name}`])
            : (spec.type === 'number'
                ? hostileNumber
                : spec.choices === undefined
                  ? hostileString()
                  : fc.oneof(fc.constantFrom(...spec.choices), hostileString())
              ).map((v) => [`--${spec.name}=${v}`]),
        ),
      ),
    );
  // At most one --db (a path of every kind), the workspace's own database more often than not.
  const db = fc.option(
    fc.constantFrom(paths.folder, paths.file, paths.missing, paths.unwritable, paths.proc, paths.nested, damaged),
    { freq: 2 },
  );
  return fc
    .tuple(args, options, fc.boolean(), db, fc.boolean())
    .map(([a, o, json, dbPath, dashes]) => [
      ...command.path,
      ...(dashes ? ['--', ...a.filter((x) => x !== '')] : a),
      ...o.flat(),
      ...(json ? ['--json'] : []),
      ...(dbPath === null ? [] : ['--db', dbPath]),
    ]);
}

/** Runs argv as the CLI would: the exit code it returns and the error code it would print ('E_HANG' if it hangs). */
async function runLikeTheCli(command: Command, argv: string[]): Promise<{ exit: number; code: string | undefined }> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<{ exit: number; code: string }>((resolve) => {
    timer = setTimeout(() => resolve({ exit: -1, code: 'E_INTERNAL (hangs: still running after 10 s)' }), 10_000);
  });
  try {
    return await Promise.race([runOnce(command, argv), hang]);
  } finally {
    clearTimeout(timer);
  }
}

async function runOnce(command: Command, argv: string[]): Promise<{ exit: number; code: string | undefined }> {
  const rest = argv.slice(command.path.length);
  const dbAt = rest.indexOf('--db');
  const ctx = commandContext(ws.dir, {
    ...(dbAt < 0 ? {} : { dbPath: rest[dbAt + 1]! }),
    signal: AbortSignal.timeout(LONG_RUNNING.has(command.path.join(' ')) ? 300 : 4000),
  });
  try {
    const result = await ctx.run(command, dbAt < 0 ? rest : rest.filter((_, i) => i !== dbAt && i !== dbAt + 1));
    return { exit: result.exitCode, code: undefined };
  } catch (thrown) {
    const error = knownFailureOf(thrown);
    return { exit: exitCodeFor(error), code: isP2Error(error) ? error.code : `E_INTERNAL (${messageOf(error)})` };
  } finally {
    await ctx.close();
  }
}

/** Values that let a command get past its lookups to its work: the fixture's session, agent, branch, … */
const PLAUSIBLE: Readonly<Record<string, string>> = {
  session: 'last',
  agent: 'alpha',
  message: 'hello',
  answer: 'yes',
  step: '1',
  branch: 'main',
  a: 'main',
  b: 'main',
  from: 'alpha',
  to: 'alpha',
  amount: '1',
  outcome: 'release',
  action: 'status',
  rollout: 'last',
  dir: 'new-workspace',
};

const NUMBERS = ['99999999999999999999', '-99999999999999999999', '-1', '0', '1.5', '1e400', '', '٣'];
const STRINGS = (): string[] => ['', 'ü∂ƒ 💥', 'x'.repeat(5000), ...Object.values(paths)];

/** Every command, with plausible values everywhere but one place, which gets each hostile value in turn. */
function sweep(command: Command): string[][] {
  const args = command.args.map((a) => PLAUSIBLE[a.name] ?? 'x');
  const runs: string[][] = [];
  command.args.forEach((_, i) => {
    for (const value of STRINGS()) runs.push([...command.path, ...args.map((a, j) => (j === i ? value : a))]);
  });
  for (const spec of command.options) {
    if (spec.type === 'boolean') runs.push([...command.path, ...args, `--${spec.name}`]);
    else
      for (const value of spec.type === 'number' ? NUMBERS : STRINGS())
        runs.push([...command.path, ...args, `--${spec.name}=${value}`]);
  }
  for (const db of [...Object.values(paths), damaged]) runs.push([...command.path, ...args, '--db', db]);
  return runs;
}

describe('every command with hostile arguments', () => {
  it('one hostile value at a time, in every argument and option: a documented exit code, never E_INTERNAL', async () => {
    const failures: string[] = [];
    for (const command of COMMANDS.filter((c) => !['ledger sandbox start'].includes(c.path.join(' ')))) {
      for (const argv of sweep(command)) {
        const { exit, code } = await runLikeTheCli(command, argv);
        const shown = `p2tui ${argv.map((w) => (w.length > 40 ? `${w.slice(0, 20)}…` : JSON.stringify(w))).join(' ')}`;
        if (code?.startsWith('E_INTERNAL') === true) failures.push(`${shown}: ${code}`);
        else if (!DOCUMENTED.has(exit)) failures.push(`${shown}: exit ${exit}`);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('ends with a documented exit code and never E_INTERNAL', async () => {
    const commands = COMMANDS.filter((c) => !['ledger sandbox start'].includes(c.path.join(' ')));
    const seen: string[] = [];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...commands).chain((command) => argvFor(command).map((argv) => ({ command, argv }))),
        async ({ command, argv }) => {
          const { exit, code } = await runLikeTheCli(command, argv);
          seen.push(command.path.join(' '));
          expect(code ?? 'ok', `p2tui ${argv.map((w) => JSON.stringify(w)).join(' ')}`).not.toMatch(/^E_INTERNAL/);
          expect(DOCUMENTED.has(exit), `exit ${exit} of p2tui ${argv.join(' ')}`).toBe(true);
        },
      ),
      {
        seed: Number(process.env['P2TUI_HOSTILE_SEED'] ?? 15),
        numRuns: Number(process.env['P2TUI_HOSTILE_RUNS'] ?? 800),
        endOnFailure: true,
      },
    );
    // Every command was driven at least once.
    expect(new Set(seen).size).toBe(commands.length);
  }, 60_000);
});
