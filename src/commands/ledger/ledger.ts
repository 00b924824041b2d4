import { UserError } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import { decimal } from '../../ledger/decimal.ts';
import { EmbeddedLedger } from '../../ledger/embedded/ledger.ts';
import type { WalletService, WalletView } from '../../ledger/wallet.ts';
import { serveLedger } from '../../ledger/json-api/facade.ts';
import {
  INSTALL_HINT,
  findLauncher,
  isReady,
  isRunning,
  readSandbox,
  sandboxDir,
  startSandbox,
  stopSandbox,
} from '../../ledger/sandbox.ts';
import { paint, table } from '../render/text.ts';
import { EXIT, type Command, type CommandContext } from '../types.ts';

/** The wallet service of the workspace: its database's embedded ledger, or the Canton participant p2tui.yaml names. */
async function wallets(ctx: CommandContext, existing = true): Promise<WalletService> {
  const workspace = await ctx.workspace();
  const store = await ctx.store({ existing });
  store.setDurability(workspace.config.durability);
  return ctx.wallets();
}

const init: Command = {
  path: ['ledger', 'init'],
  summary: "Give every agent of the workspace a wallet, funded with its persona's balance (or --balance); idempotent",
  args: [],
  options: [
    {
      name: 'balance',
      type: 'string',
      value: '<amount>',
      description: 'Starting balance for agents whose persona names none (default 0)',
    },
  ],
  examples: ['p2tui ledger init', 'p2tui ledger init --balance 100'],
  async run(ctx, input) {
    const workspace = await ctx.workspace();
    const service = await wallets(ctx, false);
    const fallback =
      input.options['balance'] === undefined
        ? undefined
        : decimal.canonical(String(input.options['balance']), '--balance');
    const views: WalletView[] = [];
    for (const p of workspace.personas.values()) views.push(await service.createWallet(p.id, p.balance ?? fallback));
    if (ctx.output.json) return { exitCode: EXIT.ok, json: views.map((v) => ({ ...v })) as JsonValue };
    for (const line of table(
      views.map((v) => [v.agent, v.balance, v.party]),
      ['agent', 'balance', 'party'],
      ctx.output.color,
    ))
      ctx.output.line(line);
    ctx.output.line(
      paint(ctx.output.color, 'gray', 'Running init again adds nothing: each initial balance is paid once.'),
    );
    return { exitCode: EXIT.ok };
  },
};

const balance: Command = {
  path: ['ledger', 'balance'],
  summary: "An agent's balance (spendable and locked in escrow), or every agent's",
  args: [{ name: 'agent', description: 'The agent (default: every agent with a wallet)', required: false }],
  options: [],
  async run(ctx, input) {
    const service = await wallets(ctx);
    const agent = input.args['agent'];
    const views =
      agent === undefined
        ? await Promise.all((await service.agents()).map((a) => service.balance(a)))
        : [await service.balance(agent)];
    if (ctx.output.json)
      return {
        exitCode: EXIT.ok,
        json: (agent === undefined ? views.map((v) => ({ ...v })) : { ...views[0]! }) as JsonValue,
      };
    if (views.length === 0) ctx.output.line('no wallets yet (create them with: p2tui ledger init)');
    for (const line of table(
      views.map((v) => [v.agent, v.balance, v.locked === '0' ? '' : `${v.locked} locked`]),
      ['agent', 'balance', ''],
      ctx.output.color,
    ))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
};

const transfer: Command = {
  path: ['ledger', 'transfer'],
  summary: 'Pay an amount from one agent to another (exact decimals; a repeated --reference returns the first receipt)',
  args: [
    { name: 'from', description: 'The paying agent', required: true },
    { name: 'to', description: 'The receiving agent', required: true },
    { name: 'amount', description: 'A decimal, e.g. 12.5', required: true },
  ],
  options: [
    { name: 'reason', type: 'string', value: '<text>', description: 'Why (kept in the record)' },
    {
      name: 'reference',
      type: 'string',
      value: '<id>',
      description:
        'What it pays for (a task, a reward id): paying it twice is refused as a duplicate (default: a new one)',
    },
  ],
  examples: [
    'p2tui ledger transfer agent_alpha agent_beta 10 --reason "for the weather report"',
    'p2tui ledger transfer treasurer agent_helper 2.5 --reference task-42',
  ],
  async run(ctx, input) {
    const service = await wallets(ctx);
    const reference =
      typeof input.options['reference'] === 'string'
        ? input.options['reference']
        : `cli:${ctx.clock.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}`;
    const receipt = await service.transfer({
      from: input.args['from']!,
      to: input.args['to']!,
      amount: input.args['amount']!,
      reason: String(input.options['reason'] ?? ''),
      reference,
    });
    if (ctx.output.json) return { exitCode: EXIT.ok, json: { ...receipt } };
    ctx.output.line(
      receipt.duplicate
        ? paint(
            ctx.output.color,
            'yellow',
            `already paid: ${receipt.from} → ${receipt.to} ${receipt.amount} for ${receipt.transferId} (offset ${receipt.offset}); nothing moved now`,
          )
        : `${receipt.from} → ${receipt.to} ${receipt.amount} (reference ${receipt.transferId}, offset ${receipt.offset}, update ${receipt.updateId.slice(0, 16)}…)`,
    );
    return { exitCode: EXIT.ok };
  },
};

const history: Command = {
  path: ['ledger', 'history'],
  summary: "An agent's payments in and out, newest first",
  args: [{ name: 'agent', description: 'The agent', required: true }],
  options: [{ name: 'limit', type: 'number', value: '<n>', description: 'How many (default 20)' }],
  async run(ctx, input) {
    const service = await wallets(ctx);
    const agent = input.args['agent']!;
    const limit = input.options['limit'] === undefined ? 20 : Number(input.options['limit']);
    if (!Number.isInteger(limit) || limit < 1) throw new UserError('E_USAGE', '--limit must be a whole number from 1');
    const lines = await service.history(agent, limit);
    if (ctx.output.json) return { exitCode: EXIT.ok, json: lines.map((l) => ({ ...l })) as JsonValue };
    if (lines.length === 0) ctx.output.line(`${agent} has no payments yet`);
    const rows = lines.map((l) => [
      String(l.offset),
      l.at.slice(0, 19).replace('T', ' '),
      l.from === agent ? `→ ${l.to}` : `← ${l.from}`,
      l.from === agent ? `-${l.amount}` : `+${l.amount}`,
      l.reason,
      l.transferId,
    ]);
    for (const line of table(rows, ['offset', 'at (UTC)', 'with', 'amount', 'reason', 'reference'], ctx.output.color))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
};

const audit: Command = {
  path: ['ledger', 'audit'],
  summary:
    "The ledger's hash chain: its head, and with --verify every link recomputed (exit 1 naming the first altered update)",
  args: [],
  options: [
    { name: 'verify', type: 'boolean', description: 'Recompute every link (the head alone is shown otherwise)' },
  ],
  async run(ctx, input) {
    const service = await wallets(ctx);
    const ledger = service.ledger;
    if (ledger.verifyChain === undefined) {
      const note =
        'the wallets are on a Canton participant, which keeps its own integrity; the hash chain audits the embedded ledger';
      if (ctx.output.json) return { exitCode: EXIT.ok, json: { backend: service.ledger.backend, ok: true, note } };
      ctx.output.line(note);
      return { exitCode: EXIT.ok };
    }
    // Without --verify: the head, and the updates since the newest full verification; with it: every link again.
    const report =
      input.options['verify'] === true || ledger.chainStatus === undefined
        ? await ledger.verifyChain()
        : await ledger.chainStatus();
    const exitCode = report.ok ? EXIT.ok : EXIT.failed;
    if (ctx.output.json) return { exitCode, json: { ...report } as JsonValue };
    if (input.options['verify'] !== true) {
      ctx.output.line(
        report.head === null
          ? 'the ledger is empty'
          : `head: offset ${report.head.offset}, hash ${report.head.hash} (${report.entries} updates)`,
      );
    }
    if (report.ok)
      ctx.output.line(
        paint(
          ctx.output.color,
          'green',
          input.options['verify'] === true
            ? `chain ok: ${report.entries} updates, every link verified`
            : 'chain ok since the last full verification (every link: --verify)',
        ),
      );
    else
      ctx.output.line(
        paint(
          ctx.output.color,
          'red',
          `chain BROKEN at offset ${report.firstBad}: ${report.reason}; writes are refused until the database is restored`,
        ),
      );
    return { exitCode };
  },
};

const overview: Command = {
  path: ['ledger', 'overview'],
  summary: 'Every wallet, the money issued, open escrows, and the audit chain',
  args: [],
  options: [],
  async run(ctx) {
    const service = await wallets(ctx);
    const o = await service.overview();
    const escrows = await service.escrows();
    const audit = o.audit;
    if (ctx.output.json)
      return {
        exitCode: audit === null || audit.ok ? EXIT.ok : EXIT.failed,
        json: {
          backend: service.ledger.backend,
          wallets: o.wallets.map((w) => ({ ...w })),
          issued: o.issued,
          escrowed: o.escrowed,
          escrows: escrows.map((e) => ({ ...e })),
          ledgerEnd: o.ledgerEnd,
          audit: audit === null ? null : { ...audit },
        } as JsonValue,
      };
    for (const line of table(
      o.wallets.map((w) => [w.agent, w.balance, w.locked === '0' ? '' : w.locked, String(w.holdings)]),
      ['agent', 'balance', 'locked', 'holdings'],
      ctx.output.color,
    ))
      ctx.output.line(line);
    ctx.output.line(
      `issued ${o.issued} · in wallets ${decimal.sum(o.wallets.map((w) => w.balance))} · in escrow ${o.escrowed} · ledger end offset ${o.ledgerEnd}`,
    );
    for (const e of escrows) ctx.output.line(`escrow ${e.reference}: ${e.payer} → ${e.payee} ${e.amount}`);
    if (audit === null)
      ctx.output.line(paint(ctx.output.color, 'gray', 'on a Canton participant (no p2tui audit chain there)'));
    else
      ctx.output.line(
        audit.ok
          ? paint(ctx.output.color, 'green', `audit chain ok (${audit.entries} updates)`)
          : paint(ctx.output.color, 'red', `audit chain BROKEN at offset ${audit.firstBad}: ${audit.reason}`),
      );
    return { exitCode: audit === null || audit.ok ? EXIT.ok : EXIT.failed };
  },
};

const escrow: Command = {
  path: ['ledger', 'escrow'],
  summary: 'Settle an open escrow by hand: release it to the payee or refund it to the payer (the operator acts)',
  args: [
    { name: 'outcome', description: 'release or refund', required: true },
    { name: 'reference', description: "The escrow's reference (see p2tui ledger overview)", required: true },
  ],
  options: [
    {
      name: 'payer',
      type: 'string',
      value: '<agent>',
      description: 'The payer, when several escrows share the reference',
    },
  ],
  examples: ['p2tui ledger escrow refund s_1a2b:agent_beta:e_9x'],
  async run(ctx, input) {
    const outcome = input.args['outcome'];
    if (outcome !== 'release' && outcome !== 'refund')
      throw new UserError('E_USAGE', `'${outcome ?? ''}' is neither release nor refund`, {
        hint: 'p2tui ledger escrow release|refund <reference>',
      });
    const service = await wallets(ctx);
    const receipt = await service.settleEscrow(
      input.args['reference']!,
      outcome,
      typeof input.options['payer'] === 'string' ? input.options['payer'] : undefined,
    );
    if (ctx.output.json) return { exitCode: EXIT.ok, json: { ...receipt } };
    ctx.output.line(
      receipt.duplicate
        ? `already settled (offset ${receipt.offset}); nothing moved now`
        : `${outcome === 'release' ? 'released' : 'refunded'} ${receipt.amount} to ${receipt.to} (offset ${receipt.offset})`,
    );
    return { exitCode: EXIT.ok };
  },
};

const metrics: Command = {
  path: ['ledger', 'metrics'],
  summary: 'Payments, volume, money issued and escrows, overall and per agent',
  args: [],
  options: [],
  async run(ctx) {
    const m = await (await wallets(ctx)).metrics();
    if (ctx.output.json)
      return { exitCode: EXIT.ok, json: { ...m, agents: m.agents.map((a) => ({ ...a })) } as JsonValue };
    ctx.output.line(
      `${m.updates} updates · ${m.payments} payments moving ${m.volume} · issued ${m.issued} · escrows: ${m.escrowsOpen} open, ${m.escrowsReleased} released, ${m.escrowsRefunded} refunded`,
    );
    for (const line of table(
      m.agents.map((a) => [a.agent, a.sent, a.received, String(a.payments)]),
      ['agent', 'sent', 'received', 'payments made'],
      ctx.output.color,
    ))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
};

const serve: Command = {
  path: ['ledger', 'serve'],
  summary: "Serve the embedded ledger over HTTP as a subset of Canton's JSON Ledger API v2 (until Ctrl-C)",
  details:
    'Parties, ledger end, submit-and-wait-for-transaction (create and exercise), active contracts and updates, with JsCantonError refusals: ' +
    "what p2tui's Canton adapter uses, so a client written for a participant can be pointed here. No authentication: it binds to 127.0.0.1 unless --host says otherwise.",
  args: [],
  options: [
    { name: 'port', type: 'number', value: '<port>', description: 'Port (default 7575, as a sandbox’s JSON API)' },
    { name: 'host', type: 'string', value: '<host>', description: 'Address to bind (default 127.0.0.1)' },
  ],
  examples: ['p2tui ledger serve --port 7575', 'curl localhost:7575/v2/state/ledger-end'],
  async run(ctx, input) {
    const store = await ctx.store({ existing: false });
    const server = serveLedger(new EmbeddedLedger(store));
    const port = input.options['port'] === undefined ? 7575 : Number(input.options['port']);
    const host = typeof input.options['host'] === 'string' ? input.options['host'] : '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) =>
        reject(
          new UserError(
            'E_USAGE',
            `cannot listen on ${host}:${port}: ${error.code === 'EADDRINUSE' ? 'the port is in use' : error.message}`,
            { hint: 'Pick another with --port.' },
          ),
        ),
      );
      server.listen(port, host, resolve);
    });
    ctx.output.line(
      `serving the embedded ledger (${store.path}) as JSON Ledger API v2 at http://${host}:${port} — Ctrl-C stops`,
    );
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return { exitCode: EXIT.ok };
  },
};

const sandbox: Command = {
  path: ['ledger', 'sandbox'],
  summary: 'Start, stop or check a local Canton sandbox (dpm or daml, found on PATH or in $CANTON_HOME/bin)',
  details:
    'start runs `<dpm|daml> sandbox --json-api-port <port> [--dar <dar>]` in the background (output in .p2tui/sandbox.log), waits until its JSON Ledger API answers, ' +
    "and allocates the operator's and every agent's party. With no Daml tooling it says what to install; p2tui keeps using its embedded ledger either way.",
  args: [{ name: 'action', description: 'start, stop or status', required: true }],
  options: [
    { name: 'port', type: 'number', value: '<port>', description: 'JSON Ledger API port (default 7575)' },
    {
      name: 'dar',
      type: 'string',
      value: '<file>',
      description: 'A DAR to upload (daml/.daml/dist/p2tui-ledger-0.1.0.dar once built)',
    },
    { name: 'timeout', type: 'number', value: '<s>', description: 'Seconds to wait for it to answer (default 180)' },
  ],
  examples: [
    'p2tui ledger sandbox start --dar daml/.daml/dist/p2tui-ledger-0.1.0.dar',
    'p2tui ledger sandbox status',
    'p2tui ledger sandbox stop',
  ],
  async run(ctx, input) {
    const action = input.args['action'];
    const workspace = await ctx.workspace();
    const dir = sandboxDir(ctx.dbPath ?? workspace.dbPath);
    if (action === 'start') {
      const state = await startSandbox({
        dataDir: dir,
        port: input.options['port'] === undefined ? 7575 : Number(input.options['port']),
        ...(typeof input.options['dar'] === 'string' ? { dar: input.options['dar'] } : {}),
        agents: [...workspace.personas.keys()],
        timeoutMs: (input.options['timeout'] === undefined ? 180 : Number(input.options['timeout'])) * 1000,
        signal: ctx.signal,
      });
      if (ctx.output.json) return { exitCode: EXIT.ok, json: { ...state } as JsonValue };
      ctx.output.line(
        `sandbox running (pid ${state.pid}, ${state.tool}) at ${state.url}; parties allocated for the operator and ${workspace.personas.size} agents`,
      );
      ctx.output.line(
        paint(
          ctx.output.color,
          'gray',
          `Use it with: CANTON_JSON_API_URL=${state.url} · stop it with: p2tui ledger sandbox stop`,
        ),
      );
      return { exitCode: EXIT.ok };
    }
    if (action === 'stop') {
      const state = await stopSandbox(dir);
      if (ctx.output.json) return { exitCode: EXIT.ok, json: { stopped: state?.pid ?? null } as JsonValue };
      ctx.output.line(
        state === undefined ? 'no sandbox was started from this workspace' : `sandbox stopped (pid ${state.pid})`,
      );
      return { exitCode: EXIT.ok };
    }
    if (action === 'status') {
      const state = readSandbox(dir);
      const running = state !== undefined && isRunning(state.pid);
      const ready = running && (await isReady(state.url));
      const launcher = findLauncher();
      if (ctx.output.json)
        return {
          exitCode: EXIT.ok,
          json: {
            running,
            ready,
            ...(state === undefined ? {} : { pid: state.pid, url: state.url }),
            launcher: launcher ?? null,
          } as JsonValue,
        };
      if (state === undefined || !running)
        ctx.output.line(
          `no sandbox running${launcher === undefined ? ` (and none can start here: ${INSTALL_HINT})` : ` (start one with: p2tui ledger sandbox start; launcher ${launcher})`}`,
        );
      else
        ctx.output.line(
          `sandbox pid ${state.pid} at ${state.url}: ${ready ? 'ready' : 'not answering yet'} (log: ${state.log})`,
        );
      return { exitCode: EXIT.ok };
    }
    throw new UserError('E_USAGE', `'${action ?? ''}' is not a sandbox action`, {
      hint: 'p2tui ledger sandbox start|stop|status',
    });
  },
};

export const ledgerCommands: readonly Command[] = [
  init,
  balance,
  transfer,
  history,
  audit,
  overview,
  metrics,
  escrow,
  serve,
  sandbox,
];
