import { dirname, join } from 'node:path';
import { UserError } from '../../core/errors.ts';
import { portOption } from '../shared.ts';
import { defineCommand } from '../define.ts';
import { EXIT } from '../types.ts';

export const ledgerServeCommand = defineCommand({
  path: ['ledger', 'serve'],
  summary: "Serve the embedded ledger over HTTP as a subset of Canton's JSON Ledger API v2 (until Ctrl-C)",
  details:
    'Parties, ledger end, submit-and-wait-for-transaction (create and exercise), active contracts and updates, ' +
    'with JsCantonError refusals: ' +
    "what p2tui's Canton adapter uses, so a client written for a participant can be pointed here. " +
    'Every request needs "Authorization: Bearer <token>": tokens are written on first start to ' +
    '<state folder>/ledger-serve.tokens (mode 0600), one for the operator (any party) and one per agent (its own ' +
    'party); point ledger.canton.token_env at a variable holding one. Requests with an Origin header or without ' +
    'Content-Type: application/json are refused, and on loopback (the default, 127.0.0.1) so is a foreign Host.',
  options: {
    // 0 asks the system for any free port (scripts and tests running several at once); the one given is printed.
    port: { ...portOption('Port (default 7575, as a sandbox’s JSON API; 0: any free port, printed)'), min: 0 },
    host: { type: 'string', value: '<host>', description: 'Address to bind (default 127.0.0.1)' },
  },
  examples: [
    'p2tui ledger serve --port 7575',
    'curl -H "Authorization: Bearer $TOKEN" localhost:7575/v2/state/ledger-end',
  ],
  async run(ctx, input) {
    const [{ EmbeddedLedger }, { serveLedger, isLoopbackName }, { TOKENS_FILE, loadOrCreateTokens }] =
      await Promise.all([
        import('../../ledger/embedded/ledger.ts'),
        import('../../ledger/json-api/facade.ts'),
        import('../../ledger/json-api/tokens.ts'),
      ]);
    const store = await ctx.store({ existing: false });
    const port = input.options.port ?? 7575;
    const host = input.options.host ?? '127.0.0.1';
    // One token per agent of the workspace, when there is one to read (a bare --db serves the operator's alone).
    const agents = await ctx.workspace().then(
      (w) => [...w.personas.keys()],
      () => [],
    );
    const file = join(dirname(store.path), TOKENS_FILE);
    const { tokens, created } = loadOrCreateTokens(file, agents);
    const server = serveLedger(new EmbeddedLedger(store), { tokens, loopback: isLoopbackName(host) });
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
    // The port the system gave (--port 0 asks for any free one): the address a client can use.
    const address = server.address();
    const bound = typeof address === 'object' && address !== null ? address.port : port;
    const where = host.includes(':') ? `[${host}]` : host;
    ctx.output.line(
      `serving the embedded ledger (${store.path}) as JSON Ledger API v2 at http://${where}:${bound} — Ctrl-C stops`,
    );
    ctx.output.line(
      `bearer tokens ${created ? 'written to' : 'read from'} ${file} (mode 0600): ${tokens.map((t) => t.name).join(', ')}`,
    );
    // Ctrl-C may have come while the server was starting: an abort listener added now would never fire.
    if (!ctx.signal.aborted)
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return { exitCode: EXIT.ok };
  },
});
