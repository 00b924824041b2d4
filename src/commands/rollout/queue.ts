import type { QueueCoordinator } from '../../rollout/queue/coordinator.ts';
import { terminalText } from '../../core/terminal-text.ts';
import { paint } from '../render/text.ts';
import type { CommandContext } from '../types.ts';

/** Connects to the queue and says which workers will take the cells. */
export async function connectQueue(ctx: CommandContext, url: string): Promise<QueueCoordinator> {
  const app = await ctx.app();
  // Loaded only here: BullMQ and its Redis client would slow every other command's start.
  const { QueueCoordinator } = await import('../../rollout/queue/coordinator.ts');
  // Refusals and lost jobs are said as they happen (on stderr: --json keeps stdout for the report).
  const queue = await QueueCoordinator.connect(app, url, {
    notice: (text) => ctx.output.warn(paint(ctx.output.color, 'yellow', terminalText(text))),
  });
  const workers = await queue.workers();
  const say = (text: string): void =>
    ctx.output.json
      ? ctx.output.warn(text)
      : ctx.output.line(paint(ctx.output.color, workers === 0 ? 'yellow' : 'gray', text));
  say(
    workers === 0
      ? `queue ${url}: no worker of this workspace (${queue.hash}) is connected yet; the cells wait until one is (p2tui worker --queue ${url})`
      : `queue ${url}: ${workers} worker${workers === 1 ? '' : 's'} of this workspace (${queue.hash})`,
  );
  say(`queue key: ${queue.keyFile} (workers need a copy: --queue-key <file> or P2TUI_QUEUE_SECRET)`);
  return queue;
}

/**
 * The command's stop signal: Ctrl-C (the CLI's) or SIGTERM (a service manager, `kill`), so a rollout stopped either
 * way is recorded as interrupted and resumable instead of staying `running` with nobody running it.
 */
export function stopSignal(ctx: CommandContext): { signal: AbortSignal; dispose(): void } {
  const term = new AbortController();
  const onTerm = (): void => {
    ctx.output.warn(paint(ctx.output.color, 'yellow', '\nStopping (SIGTERM)…'));
    term.abort();
  };
  process.once('SIGTERM', onTerm);
  return { signal: AbortSignal.any([ctx.signal, term.signal]), dispose: () => process.off('SIGTERM', onTerm) };
}
