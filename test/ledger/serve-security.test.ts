import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sha256 } from '../../src/core/hash.ts';
import { CantonJsonLedger } from '../../src/ledger/json-api/client.ts';
import { TEMPLATES } from '../../src/ledger/templates.ts';
import { WalletService } from '../../src/ledger/wallets/service.ts';
import { isLoopbackHost, isLoopbackName } from '../../src/ledger/json-api/facade.ts';
import { mayActAs } from '../../src/ledger/json-api/tokens.ts';
import { openWallets } from '../../src/ledger/wallets/open.ts';
import { tempStore, tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';

/**
 * `p2tui ledger serve` attacked over real HTTP, as a web page or a stray client would: each request that could
 * move money without the right bearer token is refused before it reaches the ledger.
 */
const ROOT = join(import.meta.dirname, '../..');
let ws: TempWorkspace;
let server: ChildProcess;
let url = '';
let port = 0;
let tokens: { name: string; token: string; actAs: string[] }[] = [];
const tokenOf = (name: string): string => tokens.find((t) => t.name === name)!.token;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

beforeAll(async () => {
  ws = tempWorkspace();
  ws.persona({ id: 'alpha', description: 'A.' });
  ws.persona({ id: 'beta', description: 'B.' });
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, [join(ROOT, 'src/cli/main.ts'), 'ledger', 'serve', '--port', String(port)], {
    cwd: ws.dir,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('bearer tokens')) resolve();
    });
    server.once('exit', (code) => reject(new Error(`ledger serve exited with ${code}: ${out}`)));
  });
  expect(out).toContain(`bearer tokens written to ${join(ws.dir, '.p2tui', 'ledger-serve.tokens')} (mode 0600)`);
  tokens = (
    JSON.parse(readFileSync(join(ws.dir, '.p2tui', 'ledger-serve.tokens'), 'utf8')) as { tokens: typeof tokens }
  ).tokens;
}, 30_000);

afterAll(async () => {
  if (server.exitCode === null) {
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGINT');
    await exited;
  }
  ws.cleanup();
});

const submitBody = (actAs: string, operator: string, owner: string, commandId: string): string =>
  JSON.stringify({
    commands: {
      commands: [
        {
          CreateCommand: {
            templateId: TEMPLATES.holding,
            createArguments: { operator, owner, amount: '1000000', meta: {} },
          },
        },
      ],
      commandId,
      actAs: [actAs],
    },
  });

/** A raw HTTP request with headers fetch would not let a test set (Host). */
function raw(path: string, headers: Record<string, string>, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', headers }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('ledger serve, attacked over HTTP', () => {
  it('writes its tokens 0600: one for the operator (any party), one per agent (its own party)', () => {
    expect(statSync(join(ws.dir, '.p2tui', 'ledger-serve.tokens')).mode & 0o777).toBe(0o600);
    expect(tokens.map((t) => [t.name, t.actAs])).toEqual([
      ['operator', ['*']],
      ['agent alpha', ['agent-alpha']],
      ['agent beta', ['agent-beta']],
    ]);
  });

  it("refuses a web page's blind mint, a missing or wrong token, text/plain, an Origin, a foreign Host and a huge body", async () => {
    const operator = new CantonJsonLedger({ url, token: tokenOf('operator') });
    const op = await operator.allocateParty('p2tui-operator');
    const endBefore = await operator.ledgerEnd();
    // The attack: a text/plain POST from a web page (foreign Origin and Host, no token) minting 1,000,000.
    const blind = await raw(
      '/v2/commands/submit-and-wait-for-transaction',
      { 'content-type': 'text/plain', origin: 'http://evil.example', host: 'evil.example:7575' },
      submitBody(op, op, op, 'blind'),
    );
    expect(blind).toBe(403);
    const post = (headers: Record<string, string>, body = submitBody(op, op, op, 'x')): Promise<Response> =>
      fetch(`${url}/v2/commands/submit-and-wait-for-transaction`, { method: 'POST', headers, body });
    const json = { 'content-type': 'application/json' };
    const bearer = { ...json, authorization: `Bearer ${tokenOf('operator')}` };
    const none = await post(json);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    expect((await post({ ...json, authorization: 'Bearer p2tui_not-a-token-at-all-0123456789' })).status).toBe(401);
    expect((await fetch(`${url}/v2/state/ledger-end`)).status).toBe(401);
    expect((await post({ ...bearer, 'content-type': 'text/plain' })).status).toBe(415);
    expect((await post({ ...bearer, origin: `http://127.0.0.1:${port}` })).status).toBe(403);
    expect(
      await raw(
        '/v2/commands/submit-and-wait-for-transaction',
        { ...bearer, host: 'attacker.example' },
        submitBody(op, op, op, 'h'),
      ),
    ).toBe(403);
    const huge = await fetch(`${url}/v2/parties`, {
      method: 'POST',
      headers: bearer,
      body: JSON.stringify({ partyIdHint: 'x'.repeat(3 * 1024 * 1024) }),
    });
    expect(huge.status).toBe(413);
    // What counts as a loopback Host: the names a browser uses for this machine, not a name that merely starts so.
    expect(['localhost:7575', '127.0.0.1', '[::1]:7575'].map(isLoopbackHost)).toEqual([true, true, true]);
    expect(['127.0.0.1.nip.io', 'evil.example', '', '[::2]:7575'].map(isLoopbackHost)).toEqual([
      false,
      false,
      false,
      false,
    ]);
    expect(isLoopbackName('::1')).toBe(true);
    // Nothing above reached the ledger; health checks need no token.
    expect(await operator.ledgerEnd()).toBe(endBefore);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it("gives parties ids that cannot be written from their names, and lets an agent's token act only as that agent", async () => {
    const admin = new WalletService(new CantonJsonLedger({ url, token: tokenOf('operator') }));
    await admin.createWallet('alpha', '10');
    await admin.createWallet('beta');
    const alpha = await admin.partyOf('alpha');
    const beta = await admin.partyOf('beta');
    const op = await admin.operator();
    // Not the name's hash, as it was: the fingerprint comes from this ledger's own random namespace.
    expect(alpha).toMatch(/^agent-alpha::1220[0-9a-f]{64}$/);
    expect(alpha).not.toBe(`agent-alpha::1220${sha256('p2tui-ledger/party\nagent-alpha')}`);
    const post = (token: string, body: string): Promise<Response> =>
      fetch(`${url}/v2/commands/submit-and-wait-for-transaction`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body,
      });
    // alpha's token acting as beta, or as the operator: refused.
    const asBeta = await post(tokenOf('agent alpha'), submitBody(beta, op, beta, 'as-beta'));
    expect(asBeta.status).toBe(403);
    expect(await asBeta.json()).toMatchObject({ code: 'PERMISSION_DENIED' });
    expect((await post(tokenOf('agent alpha'), submitBody(op, op, alpha, 'as-op'))).status).toBe(403);
    // alpha acting as itself, issuing its own money (itself as the operator): the ledger refuses it.
    const self = await post(tokenOf('agent alpha'), submitBody(alpha, alpha, alpha, 'self-mint'));
    expect(self.status).toBe(400);
    expect(await self.json()).toMatchObject({ code: 'DAML_AUTHORIZATION_ERROR' });
    // Reading another agent's holdings, or allocating parties: refused for an agent's token.
    const agentLedger = new CantonJsonLedger({ url, token: tokenOf('agent alpha') });
    await expect(agentLedger.activeContracts(beta, [TEMPLATES.holding])).rejects.toThrow(/HTTP 403/);
    await expect(agentLedger.allocateParty('agent-mallory')).rejects.toThrow(/HTTP 403/);
    // The authorized path: alpha pays beta with its own token, through the wallet service.
    const asAlpha = new WalletService(agentLedger);
    expect(
      await asAlpha.transfer({ from: 'alpha', to: 'beta', amount: '4', reason: 'work', reference: 'r1' }),
    ).toMatchObject({ from: 'alpha', to: 'beta', amount: '4', duplicate: false });
    expect((await admin.balance('beta')).balance).toBe('4');
    expect((await admin.overview()).issued).toBe('10');
  });

  it('is reached by the wallets through ledger.canton.token_env, as a participant would be; a cell scope token acts for its cell', async () => {
    const made = tempStore();
    try {
      process.env['P2TUI_TEST_SERVE_TOKEN'] = tokenOf('operator');
      const wallets = openWallets(made.store, { canton: { url, token_env: 'P2TUI_TEST_SERVE_TOKEN' } });
      expect((await wallets.scoped('r1-c1').createWallet('gamma', '3')).balance).toBe('3');
      process.env['P2TUI_TEST_SERVE_TOKEN'] = tokenOf('agent beta');
      const asBeta = openWallets(made.store, { canton: { url, token_env: 'P2TUI_TEST_SERVE_TOKEN' } });
      await expect(asBeta.scoped('r1-c1').createWallet('delta', '3')).rejects.toThrow(/HTTP 403/);
    } finally {
      delete process.env['P2TUI_TEST_SERVE_TOKEN'];
      made.cleanup();
    }
    const cell = { name: 'cell', token: 'p2tui_cell-token-0123456789abcdef', actAs: ['agent-r1-c1.*'] };
    expect(mayActAs(cell, 'agent-r1-c1.gamma::1220ab')).toBe(true);
    expect(mayActAs(cell, 'agent-r1-c2.gamma::1220ab')).toBe(false);
    expect(mayActAs(cell, 'p2tui-operator::1220ab')).toBe(false);
  });
});
