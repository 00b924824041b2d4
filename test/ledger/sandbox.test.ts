import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { CantonJsonLedger } from '../../src/ledger/json-api/client.ts';
import { isRunning } from '../../src/ledger/sandbox.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';

const ROOT = join(import.meta.dirname, '../..');
const spaces: TempWorkspace[] = [];
afterEach(() => spaces.splice(0).forEach((w) => w.cleanup()));

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A workspace with one agent and a bin/ folder for stand-in launchers. */
function workspace(): {
  ws: TempWorkspace;
  bin: string;
  p2tui: (args: string[], env?: Record<string, string>) => SpawnSyncReturns<string>;
} {
  const ws = tempWorkspace();
  ws.persona({ id: 'w', description: 'Works.' });
  spaces.push(ws);
  const bin = join(ws.dir, 'bin');
  mkdirSync(bin);
  const p2tui = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [join(ROOT, 'src/cli/main.ts'), ...args], {
      cwd: ws.dir,
      encoding: 'utf8',
      env: { ...childEnv(), PATH: `${bin}:${dirname(process.execPath)}:/usr/bin:/bin`, CANTON_HOME: '', ...env },
      timeout: 60_000,
    });
  return { ws, bin, p2tui };
}

describe('ledger sandbox', () => {
  it('says what to install when neither dpm nor daml is found, and keeps the embedded ledger', () => {
    const { p2tui } = workspace();
    const start = p2tui(['ledger', 'sandbox', 'start']);
    expect(start.status).toBe(3);
    expect(start.stderr).toContain('no Canton sandbox can be started here: neither dpm nor daml was found');
    expect(start.stderr).toContain('p2tui keeps using its embedded ledger meanwhile');
    expect(p2tui(['ledger', 'sandbox', 'status']).stdout).toContain('no sandbox running (and none can start here');
  });

  it('starts a stand-in `dpm sandbox`, waits until its JSON API answers, allocates the parties, and stops it', async () => {
    const { ws, bin, p2tui } = workspace();
    const port = await freePort();
    // The stand-in serves p2tui's own JSON Ledger API v2 facade where `dpm sandbox --json-api-port N` would.
    writeFileSync(
      join(bin, 'dpm'),
      `#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in --json-api-port) port="$2"; shift;; esac; shift; done\nsleep 1\nexec "${process.execPath}" "${join(ROOT, 'src/cli/main.ts')}" ledger serve --port "$port" --db "${join(ws.dir, 'sandbox.db')}"\n`,
    );
    chmodSync(join(bin, 'dpm'), 0o755);
    // `ledger serve` wants a bearer token: the operator's is set up beforehand, and handed over as the wallets would.
    const token = 'p2tui_sandbox-test-operator-token-0123';
    writeFileSync(
      join(ws.dir, 'ledger-serve.tokens'),
      JSON.stringify({ version: 1, tokens: [{ name: 'operator', token, actAs: ['*'] }] }),
      { mode: 0o600 },
    );
    ws.write('p2tui.yaml', `ledger:\n  canton:\n    url: http://127.0.0.1:${port}\n    token_env: SANDBOX_TOKEN\n`);
    const start = p2tui(['ledger', 'sandbox', 'start', '--port', String(port), '--json'], { SANDBOX_TOKEN: token });
    expect(start.stderr).toBe('');
    const state = JSON.parse(start.stdout) as { pid: number; url: string };
    expect(state.url).toBe(`http://127.0.0.1:${port}`);
    expect(isRunning(state.pid)).toBe(true);
    const ledger = new CantonJsonLedger({ url: state.url, token });
    expect(await ledger.findParty('agent-w')).toMatch(/^agent-w::1220/);
    expect(await ledger.findParty('p2tui-operator')).toBeDefined();
    expect(JSON.parse(p2tui(['ledger', 'sandbox', 'status', '--json']).stdout)).toMatchObject({
      running: true,
      ready: true,
      pid: state.pid,
    });
    expect(p2tui(['ledger', 'sandbox', 'start', '--port', String(port)]).stderr).toContain(
      `a sandbox is already running (pid ${state.pid}`,
    );
    expect(p2tui(['ledger', 'sandbox', 'stop']).stdout).toContain(`sandbox stopped (pid ${state.pid})`);
    expect(isRunning(state.pid)).toBe(false);
    expect(p2tui(['ledger', 'sandbox', 'status']).stdout).toContain('no sandbox running (start one with');
  });

  it('reports a sandbox that exits before it is ready, with the end of its output', () => {
    const { bin, p2tui } = workspace();
    writeFileSync(
      join(bin, 'daml'),
      '#!/bin/sh\necho "starting canton"\necho "ERROR: JAVA_HOME is not set" >&2\nexit 2\n',
    );
    chmodSync(join(bin, 'daml'), 0o755);
    const start = p2tui(['ledger', 'sandbox', 'start', '--port', '7']);
    expect(start.status).not.toBe(0);
    expect(start.stderr).toMatch(
      /the sandbox \(.*daml sandbox --json-api-port 7\) exited with code 2 before it was ready:\n\s+starting canton\n\s+ERROR: JAVA_HOME is not set/,
    );
    expect(start.stderr).toContain('The whole output is in');
  });

  it('says a launcher that cannot run could not start, instead of waiting for it', () => {
    const { bin, p2tui } = workspace();
    // Found on PATH but not executable: the spawn itself fails.
    writeFileSync(join(bin, 'dpm'), '#!/bin/sh\nexit 0\n');
    chmodSync(join(bin, 'dpm'), 0o644);
    const start = p2tui(['ledger', 'sandbox', 'start', '--port', '7', '--timeout', '30']);
    expect(start.status).not.toBe(0);
    expect(start.stderr).toMatch(/the sandbox \(.*dpm sandbox --json-api-port 7\) could not start/);
  });

  it('refuses a tampered state file instead of signalling the pid in it', () => {
    const { ws, p2tui } = workspace();
    const state = join(ws.dir, '.p2tui', 'sandbox.json');
    mkdirSync(dirname(state), { recursive: true });
    writeFileSync(state, JSON.stringify({ pid: 'not a pid', url: 'http://127.0.0.1:1' }));
    const stop = p2tui(['ledger', 'sandbox', 'stop']);
    expect(stop.status).not.toBe(0);
    expect(stop.stderr).toContain('sandbox.json is not a sandbox state file p2tui wrote');
    expect(stop.stderr).toContain('delete the file');
  });
});
