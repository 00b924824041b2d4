import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { createTuiApp } from '../../src/tui/run.tsx';
import { tempWorkspace } from '../helpers/workspace.ts';
import { KEYS, renderSized, type Rendered } from './render.ts';

/* eslint-disable no-control-regex -- control characters and escape sequences are what this test looks for */

/**
 * The TUI draws model, tool and user text shown, never obeyed: a reply, a tool result and a question full of escape
 * sequences, C1 controls and bidi overrides reach the frame as visible stand-ins, and the only escape codes in a
 * frame are the colours Ink draws.
 */
const ESC = '\u001b';
const BEL = '\u0007';
const HOSTILE =
  `start ${ESC}]52;c;aGFja2Vk${BEL} title ${ESC}]0;pwned${BEL} erase ${ESC}[2K\rFAKE ` +
  `${ESC}[31mred${ESC}[0m c1 \u009b2J bidi \u202eevil\u202c end`;

/** Anything a terminal acts on: C0 (but newline), DEL, C1, bidi embeddings, overrides and isolates. */
const ACTIVE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;
/** Ink's colour and style codes, the escape codes a frame may hold. */
const SGR = /\u001b\[[0-9;]*m/g;

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

async function open(size: { columns: number; rows: number }): Promise<Rendered> {
  const ws = tempWorkspace({
    'tools/shout.ts':
      `import { defineTool, z } from 'p2tui';\n` +
      `export const shout = defineTool({ name: 'shout', description: 'Repeats text.', ` +
      `input: z.object({ text: z.string() }), effect: 'pure', run: ({ text }: { text: string }) => 'tool says ' + text });\n`,
  });
  cleanups.push(() => ws.cleanup());
  ws.persona({
    id: 'hostile',
    description: 'Replies with escape sequences.',
    model: 'scripted/default',
    tools: ['shout'],
    script: [
      {
        when: '.',
        steps: [{ call: 'shout', args: { text: HOSTILE } }, { ask: `asks ${HOSTILE}` }, { reply: HOSTILE }],
      },
    ],
  });
  const workspace = await loadWorkspace(ws.dir, {});
  const app = new App({ workspace });
  const tui = createTuiApp(app, { ...size, color: true, quit: () => undefined });
  const screen = renderSized(tui.element, size);
  tui.bridge.start();
  cleanups.push(() => {
    screen.unmount();
    tui.dispose();
    app.close();
    void workspace.close();
  });
  return screen;
}

/** The frame holds no control character but Ink's own colour codes. */
function expectInert(screen: Rendered): void {
  expect(screen.rawFrame().replace(SGR, '')).not.toMatch(ACTIVE);
}

describe('hostile text in the TUI', () => {
  it('pasted at 80×24, asked and replied: every pane and the input bar show the sequences and obey none', async () => {
    const screen = await open({ columns: 80, rows: 24 });
    await screen.waitFor('No sessions yet');
    await screen.press('n');
    await screen.waitFor('choose an agent');
    await screen.press(KEYS.enter);
    await screen.waitFor('message to hostile');
    // A paste arrives as one chunk; its C1 control and bidi override must not reach the terminal from the input bar.
    await screen.press(`go \u202egnp.exe\u202c now \u009b2J bell${BEL}`);
    await screen.waitFor('bell');
    expectInert(screen);
    // What goes to the agent is what was pasted; the bar shows it with the controls made visible.
    expect(screen.frame()).toContain('go \ufffdgnp.exe\ufffd now \ufffd2J bell');

    await screen.press(KEYS.enter);
    // The question, drawn in the input bar, is model text too.
    const asked = await screen.waitFor('hostile asks: asks start ␛]52;c;aGFja2Vk␇');
    expectInert(screen);
    expect(asked).toContain('tool says start ␛]52;c;aGFja2Vk␇ title ␛]0;pwned␇');
    await screen.press('i', 'fine', KEYS.enter); // the session opened in navigation mode: i to answer
    const done = await screen.waitFor((f) => f.split('\n')[0]!.includes('finished'));
    expectInert(screen);
    // The reply, wrapped at 80 columns: every sequence spelled out, the colour codes gone, the words kept.
    expect(done).toContain('hostile start ␛]52;c;aGFja2Vk␇ title ␛]0;pwned␇ erase ␛[2K␍FAKE red c1 \ufffd2J bidi\n');
    expect(done).toContain('\ufffdevil\ufffd end');
  });

  it('the stack, frames and events panes of a wide terminal show the same text, inert', async () => {
    const screen = await open({ columns: 160, rows: 40 });
    await screen.waitFor('No sessions yet');
    await screen.press('n');
    await screen.waitFor('choose an agent');
    await screen.press(KEYS.enter);
    await screen.waitFor('message to hostile');
    await screen.press('go', KEYS.enter);
    await screen.waitFor('hostile asks:');
    await screen.press('i', 'fine', KEYS.enter); // the session opened in navigation mode: i to answer
    const done = await screen.waitFor((f) => f.split('\n')[0]!.includes('finished'));
    expectInert(screen);
    expect(done).toMatch(/Stack/);
    // The stack pane's one-line entries quote the question and the reply; the events pane the session's reason.
    expect(done).toMatch(/user_input_request +\? asks start ␛\]52;c;aGFja2Vk␇/);
    expect(done).toMatch(/assistant_message +start ␛\]52;c;aGFja2Vk␇/);
    expect(done).toMatch(/Events/);
  });
});
