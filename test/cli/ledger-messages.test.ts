import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { childEnv } from '../helpers/child-env.ts';
import { MAIN, runCli, type CliResult } from '../helpers/cli.ts';
import { withRawDb } from '../helpers/raw-db.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

// Issue 19, point 5: ledger commands that printed a port nobody listens on, "chain ok" over an edited update, and a
// table header over no wallets. Each runs the real CLI.

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function workspace(): TempWorkspace {
  const ws = tempWorkspace();
  ws.persona({ id: 'alpha', description: 'A.', balance: 100, script: [{ when: '.', steps: [{ reply: 'Done.' }] }] });
  ws.persona({ id: 'beta', description: 'B.', balance: 5 });
  cleanups.push(() => ws.cleanup());
  return ws;
}

const cli = (ws: TempWorkspace, ...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

describe('ledger serve --port 0', () => {
  it('prints the port the system gave, and the ledger answers there', async () => {
    const ws = workspace();
    const child = spawn(process.execPath, [MAIN, 'ledger', 'serve', '--port', '0'], { cwd: ws.dir, env: childEnv() });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGINT');
        await once(child, 'exit');
      }
    });
    let out = '';
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        const m = /^serving .* at (http:\/\/\S+) — Ctrl-C stops$/m.exec(out);
        if (m !== null && out.includes('bearer tokens')) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`ledger serve exited with ${code}: ${out}`)));
    });
    expect(line).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(line).not.toBe('http://127.0.0.1:0');
    const { tokens } = JSON.parse(readFileSync(join(ws.dir, '.p2tui', 'ledger-serve.tokens'), 'utf8')) as {
      tokens: { name: string; token: string }[];
    };
    const res = await fetch(`${line}/v2/state/ledger-end`, {
      headers: { authorization: `Bearer ${tokens[0]!.token}`, 'content-type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toHaveProperty('offset');
  });
});

describe('ledger overview', () => {
  it('an update edited before the last full verification: BROKEN naming its offset, exit 1 (it said "chain ok")', async () => {
    const ws = workspace();
    expect((await cli(ws, 'ledger', 'init')).code).toBe(0);
    expect((await cli(ws, 'ledger', 'transfer', 'alpha', 'beta', '1', '--reference', 'r1')).code).toBe(0);
    const verified = await cli(ws, 'ledger', 'audit', '--verify');
    expect(verified.stdout).toContain('chain ok: 3 updates, every link verified');
    expect((await cli(ws, 'ledger', 'overview')).stdout).toContain('audit chain ok (3 updates, every link verified)');
    // The first update's reason edited by hand, after the verification the quick status starts from.
    withRawDb(join(ws.dir, '.p2tui', 'p2tui.db'), (db) =>
      db.exec(
        `UPDATE ledger_updates SET events = replace(events, '"reason":"initial balance"', '"reason":"gift"') WHERE "offset" = 1`,
      ),
    );
    const r = await cli(ws, 'ledger', 'overview');
    expect(r.code).toBe(1);
    expect(r.stdout).not.toContain('chain ok');
    expect(r.stdout).toMatch(
      /^audit chain BROKEN at offset 1: update \w+ at offset 1 was altered after it was committed/m,
    );
  });
});

describe('ledger balance', () => {
  it('with no wallets says so, without a table header over nothing', async () => {
    const ws = workspace();
    expect((await cli(ws, 'run', 'alpha', 'hi')).code).toBe(0);
    const r = await cli(ws, 'ledger', 'balance');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('no wallets yet (create them with: p2tui ledger init)\n');
    // With wallets and nothing in escrow: two named columns, no blank heading.
    expect((await cli(ws, 'ledger', 'init')).code).toBe(0);
    const filled = await cli(ws, 'ledger', 'balance');
    expect(filled.stdout.split('\n').slice(0, 3)).toEqual(['agent  balance', 'alpha  100', 'beta   5']);
  });
});
