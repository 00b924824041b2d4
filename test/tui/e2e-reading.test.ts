import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type IPty } from '@lydell/node-pty';
import xterm from '@xterm/headless';
import { childEnv } from '../helpers/child-env.ts';

/**
 * Reading, end to end: the built `p2tui` binary in a real pseudo-terminal, its output fed to a terminal emulator —
 * zoom (z), search (/, n), and copy (y) whose OSC 52 sequence must reach the terminal without disturbing the frame.
 * (A minimal pty driver; the shared one in test/helpers/pty.ts replaces it once merged.)
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const BIN = join(ROOT, 'bin/p2tui.js');
const ESC = String.fromCharCode(27);
const BEL = String.fromCharCode(7);

let pty: IPty | undefined;
let dir: string | undefined;
afterEach(() => {
  try {
    pty?.kill();
  } catch {
    // already gone
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  pty = undefined;
  dir = undefined;
});

beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist/cli/main.js')))
    throw new Error('the end-to-end tests drive the built binary: run npm run build first (npm test does)');
});

describe('reading in a real terminal', () => {
  it('zooms a pane, searches it, and copies an entry with an OSC 52 sequence the terminal receives', async () => {
    const [columns, rows] = [120, 32];
    dir = mkdtempSync(join(tmpdir(), 'p2tui-e2e-reading-'));
    const term = new xterm.Terminal({ cols: columns, rows, allowProposedApi: true });
    let raw = '';
    pty = spawn(process.execPath, [BIN, '--workspace', ROOT, '--db', join(dir, 'p2tui.db')], {
      name: 'xterm-256color',
      cols: columns,
      rows,
      cwd: ROOT,
      env: childEnv({ CI: 'false', CONTINUOUS_INTEGRATION: 'false', TERM: 'xterm-256color' }, { color: true }),
    });
    pty.onData((data) => {
      raw += data;
      term.write(data);
    });
    const screen = (): string => {
      const buffer = term.buffer.active;
      const lines: string[] = [];
      for (let i = 0; i < term.rows; i++)
        lines.push(buffer.getLine(buffer.viewportY + i)?.translateToString(true) ?? '');
      return lines.join('\n');
    };
    const waitFor = async (what: string | RegExp | ((s: string) => boolean)): Promise<string> => {
      const test =
        typeof what === 'function' ? what : (s: string) => (typeof what === 'string' ? s.includes(what) : what.test(s));
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        await new Promise<void>((resolve) => term.write('', resolve));
        if (test(screen())) return screen();
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out waiting for ${String(what)}; the screen was:\n${screen()}`);
    };
    const press = async (keys: string): Promise<void> => {
      pty!.write(keys);
      await new Promise((r) => setTimeout(r, keys === ESC ? 60 : 30));
    };

    await waitFor('No sessions yet');
    await press('n');
    await waitFor('choose an agent');
    await press('\r');
    await waitFor('message to agent_alpha ›');
    const question = "What's the weather in Paris and who leads the Premier League?";
    await press(question);
    await waitFor('who leads the Premier League?');
    await press('\r');
    await waitFor((s) => s.includes('In short:') && s.includes('session finished'));
    await press(ESC);
    await waitFor('▌ Conversation');

    // Zoom: the stack alone, full width; the header and hints stay.
    await press('3');
    await press('z');
    let s = await waitFor((x) => x.includes('▌ Stack') && !x.includes('Conversation'));
    expect(s.split('\n')[0]).toContain('p2tui');
    expect(s.split('\n').at(-1)).toContain('? help');
    // Full width: the first entry's text is not cut.
    expect(s).toMatch(/#0\s+user_message\s+.*Premier League\?/);

    // Search in the zoomed stack: the matching row is selected; n moves on.
    await press('/');
    await press('agent_beta');
    await waitFor('/agent_beta▍');
    await press('\r');
    await waitFor(/Stack .*\/agent_beta \(\d+ lines; n\/N, Esc clears\)/);
    await press(ESC);
    await waitFor((x) => !x.includes('/agent_beta'));

    // Copy the first entry: the OSC 52 sequence reaches the terminal, the notice says how much, the frame is intact.
    await press('g');
    await press('y');
    await waitFor(`copied ${question.length} characters`);
    const osc = new RegExp(`${ESC}\\]52;c;([A-Za-z0-9+/=]+)${BEL}`).exec(raw);
    expect(osc).not.toBeNull();
    expect(Buffer.from(osc![1]!, 'base64').toString('utf8')).toBe(question);
    s = screen();
    expect(s).toContain('▌ Stack');
    expect(s.split('\n')).toHaveLength(rows);

    // Back from zoom: every pane again.
    await press('z');
    await waitFor((x) => x.includes('Conversation') && x.includes('Frames'));
    await press('q');
  }, 30_000);
});
