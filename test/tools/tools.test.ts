import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineTool } from '../../src/tools/define.ts';
import { runTool, DEFAULT_INLINE_BYTES } from '../../src/engine/tool-runner.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { systemClock } from '../../src/core/clock.ts';

const spaces: TempWorkspace[] = [];
afterEach(() => {
  for (const w of spaces.splice(0)) w.cleanup();
});

const context = (overrides: Partial<Parameters<typeof runTool>[2]> = {}): Parameters<typeof runTool>[2] => ({
  session: 's',
  branch: 'b',
  conversation: 'c',
  agent: 'a',
  callId: 'call',
  key: 'k',
  fence: 1,
  workspace: '/tmp',
  signal: new AbortController().signal,
  timeoutMs: 1000,
  now: () => Date.now(),
  clock: systemClock,
  ...overrides,
});

describe('tools', () => {
  it('defineTool turns the zod schema into the JSON Schema a model sees', () => {
    const tool = defineTool({
      name: 'get_weather',
      description: 'Weather for a city.',
      input: z.object({ location: z.string().describe('City'), unit: z.enum(['c', 'f']).default('c') }),
      effect: 'pure',
      run: () => null,
    });
    expect(tool.parameters).toMatchObject({
      type: 'object',
      properties: { location: { type: 'string', description: 'City' }, unit: { enum: ['c', 'f'], default: 'c' } },
      required: ['location'],
    });
    expect(tool.effect).toBe('pure');
    expect(tool.cacheTtlMs).toBe(300_000);
  });

  it('defaults to effectful (never rerun after a crash) when a tool does not say', () => {
    expect(defineTool({ name: 'x', description: 'x', input: z.object({}), run: () => 1 }).effect).toBe('effectful');
  });

  it('rejects a bad definition with a message that says what to fix', () => {
    expect(() => defineTool({ name: 'bad name', description: 'x', input: z.object({}), run: () => 1 })).toThrow(
      /must match/,
    );
    expect(() => defineTool({ name: 'x', description: ' ', input: z.object({}), run: () => 1 })).toThrow(
      /needs a description/,
    );
  });

  it('a tool that throws, hangs or returns too much becomes an error, a timeout, or an artifact', async () => {
    const throwing = defineTool({
      name: 'boom',
      description: 'x',
      input: z.object({}),
      effect: 'pure',
      run: () => {
        throw new Error('no such city');
      },
    });
    expect((await runTool(throwing, {}, context())).result.payload).toMatchObject({
      status: 'error',
      error: 'no such city',
    });
    const hanging = defineTool({
      name: 'hang',
      description: 'x',
      input: z.object({}),
      effect: 'pure',
      run: () => new Promise(() => undefined),
    });
    expect((await runTool(hanging, {}, context({ timeoutMs: 30 }))).result.payload).toMatchObject({
      status: 'timeout',
      error: 'timed out after 30 ms',
    });
    const big = defineTool({
      name: 'big',
      description: 'x',
      input: z.object({}),
      effect: 'pure',
      run: () => ({ data: 'x'.repeat(DEFAULT_INLINE_BYTES * 2) }),
    });
    const run = await runTool(big, {}, context());
    expect(run.result.payload.artifact).toMatch(/^[0-9a-f]{64}$/);
    expect(run.attachments).toHaveLength(1);
    expect(String(run.result.payload.output)).toMatch(/full output in artifact/);
  });

  it('loads workspace tools written in TypeScript that import p2tui', async () => {
    const ws = tempWorkspace({
      'tools/echo.ts': `import { defineTool, z } from 'p2tui';\nexport const echo = defineTool({ name: 'echo', description: 'Echo.', input: z.object({ text: z.string() }), effect: 'pure', run: ({ text }: { text: string }) => text });\n`,
      'tools/_draft.ts': `this file is skipped because of the underscore`,
    });
    spaces.push(ws);
    const workspace = await loadWorkspace(ws.dir, { db: ':memory:' });
    // The workspace's own tool, beside the built-in ledger tools.
    expect(workspace.tools.names()).toEqual([
      'check_balance',
      'echo',
      'open_escrow',
      'reward_agent',
      'transaction_history',
      'transfer_funds',
    ]);
    expect(workspace.tools.get('echo')?.source).toMatch(/tools\/echo.ts$/);
  });

  it('a tool file that fails to load, exports no tool, or reuses a name is reported with the file', async () => {
    const broken = tempWorkspace({ 'tools/broken.ts': `export const x = ;\n` });
    spaces.push(broken);
    await expect(loadWorkspace(broken.dir)).rejects.toMatchObject({
      code: 'E_TOOL_INVALID',
      message: expect.stringMatching(/tools\/broken.ts: failed to load/),
    });
    const empty = tempWorkspace({ 'tools/empty.ts': `export const answer = 42;\n` });
    spaces.push(empty);
    await expect(loadWorkspace(empty.dir)).rejects.toMatchObject({
      message: expect.stringMatching(/tools\/empty.ts: exports no tool/),
    });
    const twice = tempWorkspace({
      'tools/a.ts': `import { defineTool, z } from 'p2tui';\nexport default defineTool({ name: 'same', description: 'a', input: z.object({}), run: () => 1 });\n`,
      'tools/b.ts': `import { defineTool, z } from 'p2tui';\nexport default defineTool({ name: 'same', description: 'b', input: z.object({}), run: () => 1 });\n`,
    });
    spaces.push(twice);
    await expect(loadWorkspace(twice.dir)).rejects.toMatchObject({
      message: expect.stringMatching(/'same' is defined twice: in .*a.ts and in .*b.ts/),
    });
  });
});
