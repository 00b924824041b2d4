import { z } from 'zod';
import { defineTool, type Tool } from '../../src/tools/define.ts';

/** Tools for engine tests, with observable effects. */
export function countingTool(
  name: string,
  options: {
    effect?: 'pure' | 'idempotent' | 'effectful';
    delayMs?: (args: { n?: number }) => number;
    dedup?: 'none' | 'penalty' | 'strict';
    cacheTtlMs?: number;
    timeoutMs?: number;
  } = {},
): Tool & { calls: unknown[] } {
  const calls: unknown[] = [];
  const tool = defineTool({
    name,
    description: `test tool ${name}`,
    input: z.object({ n: z.number().optional(), text: z.string().optional() }),
    effect: options.effect ?? 'pure',
    ...(options.dedup === undefined ? {} : { dedup: options.dedup }),
    ...(options.cacheTtlMs === undefined ? {} : { cacheTtlMs: options.cacheTtlMs }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    async run(args, ctx) {
      calls.push(args);
      const delay = options.delayMs?.(args) ?? 0;
      if (delay > 0) {
        await new Promise<void>((resolve, reject) => {
          const t = setTimeout(resolve, delay);
          ctx.signal.addEventListener('abort', () => {
            clearTimeout(t);
            reject(new Error('aborted'));
          });
        });
      }
      return { n: args.n ?? null, summary: `${name} ran with ${JSON.stringify(args)}` };
    },
  });
  return Object.assign(tool, { calls });
}
