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
    'No authentication: it binds to 127.0.0.1 unless --host says otherwise.',
  options: {
    port: portOption('Port (default 7575, as a sandbox’s JSON API)'),
    host: { type: 'string', value: '<host>', description: 'Address to bind (default 127.0.0.1)' },
  },
  examples: ['p2tui ledger serve --port 7575', 'curl localhost:7575/v2/state/ledger-end'],
  async run(ctx, input) {
    const [{ EmbeddedLedger }, { serveLedger }] = await Promise.all([
      import('../../ledger/embedded/ledger.ts'),
      import('../../ledger/json-api/facade.ts'),
    ]);
    const store = await ctx.store({ existing: false });
    const server = serveLedger(new EmbeddedLedger(store));
    const port = input.options.port ?? 7575;
    const host = input.options.host ?? '127.0.0.1';
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
    // Ctrl-C may have come while the server was starting: an abort listener added now would never fire.
    if (!ctx.signal.aborted)
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }));
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return { exitCode: EXIT.ok };
  },
});
