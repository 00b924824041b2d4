import { dirname, resolve } from 'node:path';
import { UserError } from '../../core/errors.ts';
import { defineCommand } from '../define.ts';
import { EXIT } from '../types.ts';
import { terminalText } from '../../core/terminal-text.ts';

export const workerCommand = defineCommand({
  path: ['worker'],
  summary: 'Run rollout cells from a BullMQ queue (redis://…) for coordinators of this same workspace, until Ctrl-C',
  details:
    'A worker takes only the cells of its workspace (the queue is named after a hash of the personas, tools and ' +
    'their code); a job from another workspace is refused. ' +
    'Each cell runs on an in-memory store; its bundle (events, artifacts, scores, payments) goes back to the ' +
    'coordinator, which alone writes the database. A worker killed mid-cell has the cell retried by another. ' +
    "Jobs and results are signed with the coordinator's queue key: --queue-key <file>, else P2TUI_QUEUE_SECRET, " +
    'else <state folder>/queue.key; a worker without one refuses to start.',
  options: {
    queue: {
      type: 'string',
      value: 'redis://host:port',
      description: 'The Redis the coordinator uses (required)',
    },
    concurrency: {
      type: 'number',
      integer: true,
      min: 1,
      max: 10_000,
      value: '<n>',
      description: 'Cells at once (default 4)',
    },
    'queue-key': {
      type: 'string',
      value: '<file>',
      description:
        "The coordinator's queue key (its <state folder>/queue.key); else P2TUI_QUEUE_SECRET, else this workspace's",
    },
    'lock-ms': {
      type: 'number',
      integer: true,
      min: 1,
      max: 86_400_000,
      value: '<ms>',
      description: 'How long a cell stays claimed without a heartbeat before another worker takes it (default 30000)',
    },
  },
  examples: ['p2tui worker --queue redis://127.0.0.1:6379 --concurrency 8'],
  async run(ctx, input) {
    const url = input.options.queue;
    if (url === undefined)
      throw new UserError('E_USAGE', 'p2tui worker needs --queue redis://host:port', {
        hint: "The same URL as the coordinator's rollout run --queue.",
      });
    // Loaded only here: BullMQ and its Redis client would slow every other command's start.
    const [{ connectionOf }, { runWorker }, { redisEffectJournal }, { workerKeys, SECRET_ENV }] = await Promise.all([
      import('../../rollout/queue/connection.ts'),
      import('../../rollout/queue/worker.ts'),
      import('../../rollout/queue/journal.ts'),
      import('../../rollout/queue/signing.ts'),
    ]);
    // A malformed URL is said now, before the workspace loads.
    connectionOf(url);
    const [{ App }, { Store }] = await Promise.all([import('../../app/app.ts'), import('../../store/store.ts')]);
    const workspace = await ctx.workspace();
    // Before Redis is reached: a worker without the key could neither check its jobs nor sign its results.
    const keyFile = input.options['queue-key'];
    const secret = process.env[SECRET_ENV];
    const keys = workerKeys({
      ...(keyFile === undefined ? {} : { file: resolve(keyFile) }),
      ...(secret === undefined ? {} : { secret }),
      stateDir: dirname(ctx.dbPath ?? workspace.dbPath),
    });
    const store = new Store({ path: ':memory:' });
    // This store dies with the worker: effectful calls are journaled in Redis, where a cell's next attempt looks.
    const effects = redisEffectJournal(url, keys);
    const app = new App({ workspace, store, effects });
    const concurrency = input.options.concurrency ?? 4;
    const lockMs = input.options['lock-ms'];
    try {
      const done = await runWorker(app, url, {
        keys,
        concurrency,
        signal: ctx.signal,
        ...(lockMs === undefined ? {} : { lockMs }),
        // Said once it is connected and taking jobs, not before.
        onReady: (hash) =>
          ctx.output.line(
            `worker ${process.pid}: workspace ${hash} · queue ${url} · ${concurrency} at once · Ctrl-C stops`,
          ),
        onCell: (cell, result) => {
          const mark = result.status === 'done' ? '✓' : '✗';
          const error = result.error === null ? '' : `: ${terminalText(result.error)}`;
          ctx.output.line(`${mark} ${cell.team}/${cell.variant}/${cell.scenario} seed ${cell.seed}${error}`);
        },
      });
      ctx.output.line(`worker stopped after ${done.processed} cells`);
    } finally {
      app.close();
      store.close();
      await effects.close();
    }
    return { exitCode: EXIT.ok };
  },
});
