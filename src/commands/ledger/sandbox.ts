import { UserError } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import { portOption } from '../shared.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { EXIT } from '../types.ts';

export const ledgerSandboxCommand = defineCommand({
  path: ['ledger', 'sandbox'],
  summary: 'Start, stop or check a local Canton sandbox (dpm or daml, found on PATH or in $CANTON_HOME/bin)',
  details:
    'start runs `<dpm|daml> sandbox --json-api-port <port> [--dar <dar>]` in the background ' +
    '(output in .p2tui/sandbox.log), waits until its JSON Ledger API answers, ' +
    "and allocates the operator's and every agent's party. " +
    'With no Daml tooling it says what to install; p2tui keeps using its embedded ledger either way.',
  args: {
    action: { description: 'start, stop or status', required: true },
  },
  options: {
    port: portOption('JSON Ledger API port (default 7575)'),
    dar: {
      type: 'string',
      value: '<file>',
      description: 'A DAR to upload (daml/.daml/dist/p2tui-ledger-0.1.0.dar once built)',
    },
    timeout: {
      type: 'number',
      min: 1,
      // A day: beyond 2^31 ms Node's timers fire at once instead.
      max: 86_400,
      value: '<s>',
      description: 'Seconds to wait for it to answer (default 180)',
    },
  },
  examples: [
    'p2tui ledger sandbox start --dar daml/.daml/dist/p2tui-ledger-0.1.0.dar',
    'p2tui ledger sandbox status',
    'p2tui ledger sandbox stop',
  ],
  async run(ctx, input) {
    const { INSTALL_HINT, findLauncher, isReady, isRunning, readSandbox, sandboxDir, startSandbox, stopSandbox } =
      await import('../../ledger/sandbox.ts');
    const action = input.args.action;
    const workspace = await ctx.workspace();
    const dir = sandboxDir(ctx.dbPath ?? workspace.dbPath);
    if (action === 'start') {
      const dar = input.options.dar;
      // The same token the wallets would use (a participant with auth, or a stand-in `ledger serve`).
      const tokenEnv = workspace.config.ledger.canton?.token_env;
      const token = tokenEnv === undefined ? undefined : process.env[tokenEnv];
      const state = await startSandbox({
        ...(token === undefined || token === '' ? {} : { token }),
        dataDir: dir,
        port: input.options.port ?? 7575,
        ...(dar === undefined ? {} : { dar }),
        agents: [...workspace.personas.keys()],
        timeoutMs: (input.options.timeout ?? 180) * 1000,
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
      if (state === undefined || !running) {
        const why =
          launcher === undefined
            ? ` (and none can start here: ${INSTALL_HINT})`
            : ` (start one with: p2tui ledger sandbox start; launcher ${launcher})`;
        ctx.output.line(`no sandbox running${why}`);
      } else {
        ctx.output.line(
          `sandbox pid ${state.pid} at ${state.url}: ${ready ? 'ready' : 'not answering yet'} (log: ${state.log})`,
        );
      }
      return { exitCode: EXIT.ok };
    }
    throw new UserError('E_USAGE', `'${action}' is not a sandbox action`, {
      hint: 'p2tui ledger sandbox start|stop|status',
    });
  },
});
