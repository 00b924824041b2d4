import { execa } from 'execa';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.ts';
import { UserError } from '../core/errors.ts';
import { makeFolder } from '../core/folders.ts';
import { CantonJsonLedger } from './json-api/client.ts';
import { OPERATOR_HINT } from './templates.ts';

/**
 * A local Canton sandbox for the ledger adapter, started with the Daml tooling the machine has: `dpm sandbox`
 * (Daml 3), `daml sandbox`, or either under $CANTON_HOME/bin. p2tui keeps using its embedded ledger; the sandbox is
 * for trying the adapter (CANTON_JSON_API_URL) against a real participant.
 */
const SandboxStateSchema = z.object({
  pid: z.number().int().positive(),
  port: z.number().int().min(1).max(65_535),
  tool: z.string(),
  url: z.string(),
  startedAt: z.number(),
  log: z.string(),
});
export type SandboxState = Readonly<z.infer<typeof SandboxStateSchema>>;

/** The launcher found on this machine, or undefined (with what to install). */
export function findLauncher(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const dirs = [
    ...(env['CANTON_HOME'] === undefined ? [] : [join(env['CANTON_HOME'], 'bin')]),
    ...(env['PATH'] ?? '').split(delimiter).filter((d) => d !== ''),
  ];
  for (const tool of ['dpm', 'daml']) {
    for (const dir of dirs) {
      const path = join(dir, tool);
      if (existsSync(path)) return path;
    }
  }
  return undefined;
}

export const INSTALL_HINT =
  'Install the Daml SDK (dpm: https://docs.digitalasset.com, ' +
  '`curl https://get.digitalasset.com/install/install.sh | sh`, JDK 17+), ' +
  'or set CANTON_HOME to a folder with bin/dpm; p2tui keeps using its embedded ledger meanwhile.';

function stateFile(dataDir: string): string {
  return join(dataDir, 'sandbox.json');
}

/**
 * The sandbox this workspace started, from its state file. A file that is not one (edited by hand, cut short) is
 * refused with what to do, never trusted: its pid is what `stop` would signal.
 */
export function readSandbox(dataDir: string): SandboxState | undefined {
  const file = stateFile(dataDir);
  if (!existsSync(file)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    parsed = undefined;
  }
  const state = SandboxStateSchema.safeParse(parsed);
  if (!state.success) {
    throw new UserError('E_CONFIG', `${file} is not a sandbox state file p2tui wrote`, {
      hint: 'Stop the sandbox by hand if one runs, then delete the file.',
    });
  }
  return state.data;
}

export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function isReady(url: string): Promise<boolean> {
  for (const path of ['/livez', '/v2/version']) {
    try {
      const r = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(2_000) });
      if (r.ok) return true;
    } catch {
      // Not listening yet.
    }
  }
  return false;
}

/**
 * Starts the sandbox in the background (its output in `<dataDir>/sandbox.log`), waits until its JSON API answers,
 * then allocates the operator's and the agents' parties. A sandbox that exits or does not answer in time is stopped
 * and its log's last lines are in the error.
 */
export async function startSandbox(options: {
  dataDir: string;
  port: number;
  dar?: string;
  agents: readonly string[];
  timeoutMs: number;
  clock?: Clock;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  /** The bearer token the parties are allocated with (from ledger.canton.token_env; none for a sandbox without auth). */
  token?: string;
}): Promise<SandboxState> {
  const running = readSandbox(options.dataDir);
  if (running !== undefined && isRunning(running.pid))
    throw new UserError('E_USAGE', `a sandbox is already running (pid ${running.pid}, ${running.url})`, {
      hint: 'Stop it first: p2tui ledger sandbox stop',
    });
  const tool = findLauncher(options.env);
  if (tool === undefined)
    throw new UserError(
      'E_CONFIG',
      'no Canton sandbox can be started here: neither dpm nor daml was found (on PATH or in $CANTON_HOME/bin)',
      { hint: INSTALL_HINT },
    );
  if (options.dar !== undefined && !existsSync(options.dar))
    throw new UserError('E_USAGE', `--dar ${options.dar} does not exist`, {
      hint: 'Build it in daml/ with: dpm build',
    });
  makeFolder(options.dataDir);
  const log = join(options.dataDir, 'sandbox.log');
  const args = [
    'sandbox',
    '--json-api-port',
    String(options.port),
    ...(options.dar === undefined ? [] : ['--dar', options.dar]),
  ];
  // In its own process group, outliving this command (`ledger sandbox stop` signals the group), its output (both
  // streams, interleaved as written) in the log.
  writeFileSync(log, '');
  const child = execa(tool, args, {
    detached: true,
    cleanup: false,
    reject: false,
    stdin: 'ignore',
    stdout: { file: log, append: true },
    stderr: { file: log, append: true },
    env: options.env ?? process.env,
    extendEnv: false,
  });
  let exited: string | undefined;
  void child.then((result) => {
    exited =
      result.exitCode !== undefined
        ? `exited with code ${result.exitCode}`
        : result.signal !== undefined
          ? `was killed by ${result.signal}`
          : `could not start (${result.shortMessage})`;
  });
  child.unref();
  if (child.pid === undefined) {
    await child;
    throw new UserError('E_LEDGER', `the sandbox (${tool} ${args.join(' ')}) ${exited ?? 'could not start'}`, {
      hint: INSTALL_HINT,
    });
  }
  const url = `http://127.0.0.1:${options.port}`;
  const clock = options.clock ?? systemClock;
  const state: SandboxState = { pid: child.pid, port: options.port, tool, url, startedAt: clock.now(), log };
  writeFileSync(stateFile(options.dataDir), `${JSON.stringify(state, null, 2)}\n`);
  const deadline = clock.now() + options.timeoutMs;
  for (;;) {
    if (await isReady(url)) break;
    const tail = (): string => readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n');
    if (exited !== undefined) {
      rmSync(stateFile(options.dataDir), { force: true });
      throw new UserError(
        'E_LEDGER',
        `the sandbox (${tool} ${args.join(' ')}) ${exited} before it was ready:\n${tail()}`,
        { hint: `The whole output is in ${log}.` },
      );
    }
    if (clock.now() > deadline || options.signal?.aborted === true) {
      await stopSandbox(options.dataDir);
      throw new UserError(
        'E_LEDGER',
        `the sandbox did not answer on ${url} within ${Math.round(options.timeoutMs / 1000)} s; it was stopped. Last output:\n${tail()}`,
        { hint: `Allow more time with --timeout, or see ${log}.` },
      );
    }
    await clock.sleep(250);
  }
  const ledger = new CantonJsonLedger({ url, ...(options.token === undefined ? {} : { token: options.token }) });
  for (const hint of [OPERATOR_HINT, ...options.agents.map((a) => `agent-${a}`)]) await ledger.allocateParty(hint);
  return state;
}

/** Stops the sandbox this workspace started: SIGTERM to its process group, SIGKILL after `graceMs`. */
export async function stopSandbox(
  dataDir: string,
  graceMs = 10_000,
  clock: Clock = systemClock,
): Promise<SandboxState | undefined> {
  const state = readSandbox(dataDir);
  if (state === undefined) return undefined;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-state.pid, sig);
    } catch {
      try {
        process.kill(state.pid, sig);
      } catch {
        // Gone already.
      }
    }
  };
  if (isRunning(state.pid)) {
    signal('SIGTERM');
    const deadline = clock.now() + graceMs;
    while (isRunning(state.pid) && clock.now() < deadline) await clock.sleep(100);
    if (isRunning(state.pid)) signal('SIGKILL');
  }
  rmSync(stateFile(dataDir), { force: true });
  return state;
}

export function sandboxDir(dbPath: string): string {
  return dirname(dbPath);
}
