import type { QueueCoordinator } from '../../rollout/queue/coordinator.ts';
import { paint } from '../render/text.ts';
import type { CommandContext } from '../types.ts';

/** Connects to the queue and says which workers will take the cells. */
export async function connectQueue(ctx: CommandContext, url: string): Promise<QueueCoordinator> {
  const app = await ctx.app();
  // Loaded only here: BullMQ and its Redis client would slow every other command's start.
  const { QueueCoordinator } = await import('../../rollout/queue/coordinator.ts');
  const queue = await QueueCoordinator.connect(app, url);
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
  return queue;
}
