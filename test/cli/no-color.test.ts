import { describe, expect, it } from 'vitest';
import { spawn } from '@lydell/node-pty';
import { MAIN } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';

/**
 * NO_COLOR as no-color.org defines it: set and not empty turns colour off; `NO_COLOR=` (empty) leaves it on. Checked on
 * a real terminal (colour is only ever written to one), with the demo workspace's agent list.
 */
const ROOT = new URL('../..', import.meta.url).pathname;
/** An SGR colour or style code, as a terminal receives it. */
const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`);

async function agentsList(noColor: string): Promise<string> {
  let raw = '';
  const pty = spawn(process.execPath, [MAIN, 'agents', 'list'], {
    name: 'xterm-256color',
    cols: 160,
    rows: 40,
    cwd: ROOT,
    env: childEnv({ TERM: 'xterm-256color', NO_COLOR: noColor }, { color: true }) as Record<string, string>,
  });
  pty.onData((data) => (raw += data));
  const code = await new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
  expect(code).toBe(0);
  return raw;
}

describe('NO_COLOR', () => {
  it('an empty NO_COLOR keeps the colours; NO_COLOR=1 turns them off', async () => {
    expect(await agentsList('')).toMatch(SGR);
    const plain = await agentsList('1');
    expect(plain).toContain('agent_alpha');
    expect(plain).not.toMatch(SGR);
  }, 20_000);
});
