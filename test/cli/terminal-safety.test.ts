import { runCli, type CliResult } from '../helpers/cli.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { spawn as spawnPty } from '@lydell/node-pty';
import xterm from '@xterm/headless';
import { stringify } from 'yaml';
import { childEnv } from '../helpers/child-env.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';

/**
 * Model output must not drive the terminal. A persona whose reply (and whose tool's output) holds a clipboard write,
 * a title change, an erase-and-overwrite, colour codes, 8-bit C1 controls and bidi overrides is run by real p2tui
 * processes; what they print must hold none of it, except p2tui's own colour codes when colour is on, and must show
 * it instead (␛, ␇, ␍, U+FFFD).
 */
const ROOT = new URL('../..', import.meta.url).pathname;
const MAIN = join(ROOT, 'src/cli/main.ts');
const MCP_SERVER = join(ROOT, 'test/fixtures/mcp-stdio-server.ts');
const ESC = '\u001b';
const BEL = '\u0007';

/** What the model says and the tool returns: each piece is an attack a terminal would carry out. */
const HOSTILE =
  `start ${ESC}]52;c;aGFja2Vk${BEL} title ${ESC}]0;pwned${BEL} erase ${ESC}[2K\rFAKE ` +
  `${ESC}[31mred${ESC}[0m ${ESC}[8mhidden${ESC}[0m c1 \u009b2J \u009d0;t${BEL} dcs ${ESC}Pq${ESC}\\ ` +
  `bidi \u202eevil\u202c iso \u2066x\u2069 bs a\bb end`;

/* eslint-disable no-control-regex -- control characters and escape sequences are what this test looks for */

/** Anything a terminal acts on: C0 (but newline and tab), DEL, C1, bidi embeddings, overrides and isolates. */
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

let ws: TempWorkspace;
let db: string;
/** The hostile persona's session, from the first test's run. */
let session = 'last';

function p2tuiIn(cwd: string, args: readonly string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runCli(args, { cwd, env });
}

/** A p2tui process over the hostile workspace; it does not block this process (model servers run here). */
function p2tui(args: readonly string[]): Promise<CliResult> {
  return p2tuiIn(ws.dir, [...args, '--db', db]);
}

/** The shown form of every attack: visible, and in the order written. */
function expectShown(text: string): void {
  expect(text).toContain('␛]52;c;aGFja2Vk␇');
  expect(text).toContain('␛]0;pwned␇');
  expect(text).toContain('␛[2K␍FAKE');
  expect(text).toContain('\ufffd2J \ufffd0;t␇');
  expect(text).toContain('bidi \ufffdevil\ufffd iso \ufffdx\ufffd');
}

beforeAll(() => {
  ws = tempWorkspace({
    // An MCP server whose error text quotes its arguments: MCP text reaches the terminal through it.
    'p2tui.yaml': stringify({ mcp_servers: { calc: { command: process.execPath, args: [MCP_SERVER] } } }),
    'tools/shout.ts':
      `import { defineTool, z } from 'p2tui';\n` +
      `export const shout = defineTool({ name: 'shout', description: 'Repeats text.', ` +
      `input: z.object({ text: z.string() }), effect: 'pure', run: ({ text }: { text: string }) => 'tool says ' + text });\n`,
  });
  ws.persona({
    id: 'hostile',
    description: 'Replies with escape sequences.',
    model: 'scripted/default',
    tools: ['shout', 'calc__fail'],
    script: [
      {
        when: '.',
        steps: [
          { call: 'shout', args: { text: HOSTILE } },
          { call: 'calc__fail', args: { why: HOSTILE } },
          { reply: HOSTILE },
        ],
      },
    ],
  });
  ws.persona({
    id: 'payer',
    description: 'Pays with a hostile memo.',
    model: 'scripted/default',
    tools: ['transfer_funds'],
    balance: 10,
    script: [
      {
        when: '.',
        steps: [{ call: 'transfer_funds', args: { to: 'hostile', amount: '1', reason: HOSTILE } }, { reply: 'paid' }],
      },
    ],
  });
  db = join(ws.dir, '.p2tui', 'p2tui.db');
});
afterAll(() => ws.cleanup());

describe('model, tool and MCP text on the terminal', () => {
  it('run, session show, session stack and events tail print no control sequence, and show each one', async () => {
    const run = await p2tui(['run', 'hostile', 'go']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    session = /^session (s_\w+)/.exec(run.stdout)![1]!;
    expect(run.stdout).not.toMatch(ACTIVE);
    expectShown(run.stdout);
    // Colour codes inside model text are taken out, their words kept: no colour and no hidden text here.
    expect(run.stdout).toContain('red hidden c1');
    expect(run.stdout).toContain('tool says start ␛]52');
    expect(run.stdout).toContain('refused: start ␛]52');

    const readers = [
      ['session', 'show', session],
      ['session', 'stack', session],
      ['events', 'tail', '-n', '50'],
    ];
    const outs = await Promise.all(readers.map((args) => p2tui(args)));
    outs.forEach((out, i) => {
      const args = readers[i]!.join(' ');
      expect(out.code, args).toBe(0);
      expect(out.stdout, args).not.toMatch(ACTIVE);
      expect(out.stdout, args).toContain('␛]0;pwned␇');
    });
  });

  it('a ledger memo an agent wrote is shown by ledger history, not obeyed', async () => {
    expect((await p2tui(['ledger', 'init'])).code).toBe(0);
    const run = await p2tui(['run', 'payer', 'pay']);
    expect(run.code).toBe(0);
    const history = await p2tui(['ledger', 'history', 'payer']);
    expect(history.code).toBe(0);
    expect(history.stdout).not.toMatch(ACTIVE);
    expect(history.stdout).toContain('-1');
    expect(history.stdout).toContain('start ␛]52;c;aGFja2Vk␇ title ␛]0;pwned␇');
  });

  it('--json keeps the exact text, with every control character escaped; artifacts show --raw writes the bytes', async () => {
    const [show, tail, exported] = await Promise.all([
      p2tui(['session', 'show', session, '--json']),
      p2tui(['events', 'tail', '-n', '50', '--session', session, '--json']),
      p2tui(['events', 'export', '--session', session]),
    ]);
    expect(show.code).toBe(0);
    expect(show.stdout).not.toMatch(ACTIVE);
    expect((JSON.parse(show.stdout) as { answer: string }).answer).toBe(HOSTILE);
    // JSON.stringify leaves C1 and bidi controls raw; here they are escapes a parser reads back as the same text.
    expect(show.stdout).toContain('\\u009b2J');
    expect(show.stdout).toContain('\\u202eevil');

    expect(tail.code).toBe(0);
    expect(tail.stdout).not.toMatch(ACTIVE);
    const replies = tail.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { id: string; kind: string | null; payload: { text?: string } })
      .filter((e) => e.kind === 'assistant_message');
    expect(replies.map((e) => e.payload.text)).toEqual([HOSTILE]);

    // The reply as an artifact: shown cleaned, and with --raw exactly the stored bytes, for a pipe that wants them.
    const id = replies[0]!.id;
    const [shown, raw] = await Promise.all([
      p2tui(['artifacts', 'show', id]),
      p2tui(['artifacts', 'show', id, '--raw']),
    ]);
    expect(shown.stdout).not.toMatch(ACTIVE);
    expectShown(shown.stdout);
    expect(raw.code).toBe(0);
    expect(raw.stdout).toBe(HOSTILE);

    expect(exported.stdout).not.toMatch(ACTIVE);
    expect(exported.stdout).toContain('\\u001b]52;c;aGFja2Vk\\u0007');
  });

  it("with colour on, in a real terminal, only p2tui's own colour codes reach it: the title stays, nothing is erased", async () => {
    const term = new xterm.Terminal({ cols: 200, rows: 60, allowProposedApi: true });
    const titles: string[] = [];
    term.onTitleChange((t) => titles.push(t));
    let raw = '';
    const pty = spawnPty(process.execPath, [MAIN, 'run', 'hostile', 'again', '--db', db], {
      name: 'xterm-256color',
      cols: 200,
      rows: 60,
      cwd: ws.dir,
      env: childEnv({ TERM: 'xterm-256color' }, { color: true }) as Record<string, string>,
    });
    pty.onData((data) => {
      raw += data;
      term.write(data);
    });
    const code = await new Promise<number>((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
    await new Promise<void>((resolve) => term.write('', resolve));
    expect(code).toBe(0);
    // The terminal's own line discipline turns each newline into CRLF; any other CR would come from the text.
    const written = raw.replace(/\r\n/g, '\n');
    // p2tui coloured its own words (the agent's name in bold, the tool's arrow)...
    expect(written).toMatch(/\u001b\[1mhostile\u001b\[22m/);
    // ...and every escape sequence that reached the terminal is one of its colour codes.
    const own = /\u001b\[(?:1|2|7|22|27|3[1-6]|39|90)m/g;
    const sequences = written.match(/\u001b[^\n]{0,12}/g) ?? [];
    for (const s of sequences) expect(s).toMatch(new RegExp(`^${own.source}`));
    expect(written.replace(own, '')).not.toMatch(ACTIVE);
    expect(titles).toEqual([]);
    const buffer = term.buffer.active;
    const screen: string[] = [];
    for (let i = 0; i <= buffer.length; i++) screen.push(buffer.getLine(i)?.translateToString(true) ?? '');
    const shown = screen.join('\n');
    // What a person sees: the attack spelled out, the line it tried to erase still there, the hidden text visible.
    expect(shown).toContain('start ␛]52;c;aGFja2Vk␇ title ␛]0;pwned␇ erase ␛[2K␍FAKE red hidden');
    term.dispose();
  });
});

describe('a real model and an LLM judge over HTTP', () => {
  let remote: TempWorkspace;
  let model: ModelServer;
  let judge: ModelServer;
  beforeAll(async () => {
    model = await openAIServer();
    // Streamed three characters at a time: every escape sequence arrives cut across deltas.
    model.queue({ kind: 'reply', text: HOSTILE, chunk: 3 });
    judge = await openAIServer();
    judge.queue({
      kind: 'reply',
      text: JSON.stringify({ criteria: [{ id: 'helpful', score: 0.5, reason: HOSTILE }] }),
    });
    const provider = (server: ModelServer) => ({
      type: 'openai',
      base_url: `${server.url}/v1`,
      api_key_env: 'TEST_KEY',
    });
    remote = tempWorkspace({
      'p2tui.yaml': stringify({
        providers: { agenthttp: provider(model), judgehttp: provider(judge) },
        judge: {
          model: 'judgehttp/test-model',
          evaluators: [
            { id: 'quality', kind: 'llm', rubric: { criteria: [{ id: 'helpful', description: 'Helps.', weight: 1 }] } },
          ],
        },
      }),
    });
    remote.persona({ id: 'remote', description: 'A real model.', model: 'agenthttp/test-model' });
  });
  afterAll(async () => {
    remote.cleanup();
    await model.close();
    await judge.close();
  });

  it("shows a streamed reply and the judge's reasoning (run, eval show --criteria) with every sequence visible", async () => {
    const run = await p2tuiIn(remote.dir, ['run', 'remote', 'go'], { TEST_KEY: 'sk-test-key' });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).not.toMatch(ACTIVE);
    // Cut across deltas, each sequence still reads as in the stored reply: colour codes gone, the rest spelled out.
    expect(run.stdout).toContain('start ␛]52;c;aGFja2Vk␇ title ␛]0;pwned␇ erase ␛[2K␍FAKE red hidden c1');
    expect(run.stdout).toMatch(/judge · quality 0\.50/);
    const show = await p2tuiIn(remote.dir, ['eval', 'show', 'last', '--criteria']);
    expect(show.code).toBe(0);
    expect(show.stdout).not.toMatch(ACTIVE);
    expect(show.stdout).toMatch(/helpful +0\.50 +×1 +start ␛\]52;c;aGFja2Vk␇ title ␛\]0;pwned␇/);
  });
});
