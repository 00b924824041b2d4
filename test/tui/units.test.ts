import { afterEach, describe, expect, it } from 'vitest';
import { insertText, deleteWord } from '../../src/tui/text-input.ts';
import { clip, fit, lineText, lineWidth, seg, visibleRange, wrap } from '../../src/tui/lines.ts';
import { sessionLayout } from '../../src/tui/layout.ts';
import { toKeyInput } from '../../src/tui/input/use-terminal-input.ts';
import { COMMANDS, activeScopes, helpSections, hints } from '../../src/tui/keymap/keymap.ts';
import { paletteCompletions } from '../../src/tui/palette.ts';
import { SessionProjection } from '../../src/tui/projection.ts';
import { TimelineLines } from '../../src/tui/render-lines.ts';
import { cycleFocus, initialState, scrollPane, type TuiState } from '../../src/tui/state.ts';
import { testEngine, type TestEngine } from '../helpers/workspace.ts';
import {
  EVERY_AGENT,
  FORK_FIELDS,
  cycleChoice,
  describeChanges,
  describeForm,
  formOverrides,
  moveField,
  openForkForm,
  withFieldText,
  type ForkForm,
} from '../../src/tui/fork-form.ts';

const engines: TestEngine[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.close();
});

const state = (patch: Partial<TuiState> = {}): TuiState => ({
  ...initialState({ root: '/w', model: 'scripted/default', agents: [] }, { columns: 100, rows: 30 }),
  ...patch,
});

describe('lines', () => {
  it('draws model text shown, not obeyed: wrapped or fitted, escapes become visible and a line stays one row', () => {
    const hostile = 'a\u001b]0;t\u0007 b\u001b[2K\rc \u202ed\u009b2J\te\nf';
    expect(wrap([seg(hostile)], 80).map(lineText)).toEqual(['a␛]0;t␇ b␛[2K␍c \ufffdd\ufffd2J  e', 'f']);
    const fitted = fit([seg('x', { color: 'red' }), seg(hostile)], 40);
    expect(lineText(fitted)).toBe('xa␛]0;t␇ b␛[2K␍c \ufffdd\ufffd2J  e f'.padEnd(40));
    expect(fitted[0]).toEqual({ text: 'x', color: 'red' });
    const plain = [seg('fine')];
    expect(fit(plain, 4)).toBe(plain);
  });

  it('wraps at spaces to the width, with a hanging indent, keeping leading indentation', () => {
    const lines = wrap([seg('    '), seg('agent '), seg('the quick brown fox jumps over the lazy dog')], 20, 6);
    expect(lines.map(lineText)).toEqual([
      '    agent the quick',
      '      brown fox',
      '      jumps over the',
      '      lazy dog',
    ]);
    for (const line of lines) expect(lineWidth(line)).toBeLessThanOrEqual(20);
  });

  it('cuts words longer than a line, counts wide characters as two columns, and honours newlines', () => {
    expect(wrap([seg('abcdefghij')], 4).map(lineText)).toEqual(['abcd', 'efgh', 'ij']);
    expect(wrap([seg('天気天気天気')], 5).map(lineText)).toEqual(['天気', '天気', '天気']);
    expect(wrap([seg('one\ntwo')], 10).map(lineText)).toEqual(['one', 'two']);
  });

  it('clips with an ellipsis', () => {
    expect(lineText(clip([seg('hello '), seg('world')], 8))).toBe('hello w…');
    expect(lineText(clip([seg('short')], 8))).toBe('short');
  });

  it('windows a long list: following shows the end, an offset is clamped to both ends', () => {
    expect(visibleRange(100, 10, 0, true)).toEqual({ start: 90, end: 100 });
    expect(visibleRange(100, 10, 95, false)).toEqual({ start: 90, end: 100 });
    expect(visibleRange(100, 10, -5, false)).toEqual({ start: 0, end: 10 });
    expect(visibleRange(3, 10, 0, true)).toEqual({ start: 0, end: 3 });
  });
});

describe('layout', () => {
  for (const [columns, rows] of [
    [80, 24],
    [100, 30],
    [109, 40],
    [110, 40],
    [160, 48],
    [300, 90],
  ] as const) {
    it(`fills ${columns}×${rows} exactly, with room in every pane`, () => {
      const layout = sessionLayout(columns, rows, 3);
      const { panes } = layout;
      expect(layout.body).toBe(rows - 3);
      if (layout.wide) {
        expect(panes.conversation.width + 1 + panes.frames.width).toBe(columns);
        expect(
          panes.frames.height + panes.stack.height + panes.judge.height + panes.wallets.height + panes.events.height,
        ).toBe(layout.body);
        expect(panes.conversation.height).toBe(layout.body);
      } else {
        expect(panes.frames.width + 1 + panes.events.width).toBe(columns);
        expect(panes.conversation.height + panes.judge.height + panes.wallets.height + panes.events.height).toBe(
          layout.body,
        );
        expect(panes.frames.height + panes.stack.height).toBe(
          panes.judge.height + panes.wallets.height + panes.events.height,
        );
      }
      for (const pane of Object.values(panes)) expect(pane.height).toBeGreaterThanOrEqual(2);
    });
  }
});

describe('keys and commands', () => {
  it('splits several typed characters into one key each, but keeps them together as text; a paste is text only', () => {
    expect(toKeyInput({ kind: 'text', text: 'jjj' })).toEqual({ names: ['j', 'j', 'j'], text: 'jjj' });
    expect(toKeyInput({ kind: 'key', name: 'up' })).toEqual({ names: ['up'], text: undefined });
    expect(toKeyInput({ kind: 'paste', text: 'q\n' })).toEqual({ names: [], text: 'q\n', paste: true });
  });

  it('binds no key twice where both commands could apply at once', () => {
    const contexts: TuiState[] = [
      state(),
      state({ screen: 'session', focus: 'conversation' }),
      state({ screen: 'session', focus: 'frames' }),
      state({ screen: 'session', focus: 'input' }),
      state({ overlay: { kind: 'help', scroll: 0 } }),
      state({ overlay: { kind: 'agents', cursor: 0 } }),
      state({ overlay: { kind: 'palette', text: '', cursor: 0, selected: 0, running: false, output: [], scroll: 0 } }),
      state({ overlay: { kind: 'confirm', message: '?', action: 'quit' } }),
    ];
    for (const s of contexts) {
      const scopes = activeScopes(s);
      // Within one scope a key has one meaning; across scopes, the first scope wins by design.
      for (const scope of scopes) {
        const seen = new Map<string, string>();
        for (const c of COMMANDS.filter((x) => x.scope === scope && (x.when?.(s) ?? true))) {
          for (const key of c.keys) {
            expect(seen.get(key), `${key} in ${scope}: ${seen.get(key)} and ${c.id}`).toBeUndefined();
            seen.set(key, c.id);
          }
        }
      }
    }
  });

  it('puts every command in the help, and only bound, applicable commands in the status bar', () => {
    const help = helpSections(state()).flatMap((s) => s.rows.map((r) => r.title));
    for (const c of COMMANDS) expect(help).toContain(c.title);
    const bar = hints(state({ screen: 'session', focus: 'conversation' }));
    expect(bar[0]).toBe('i write');
    expect(bar).toContain('j scroll');
    expect(bar).not.toContain('t retry'); // only when the session failed
  });

  it('completes palette commands from the CLI registry, aliases included', () => {
    expect(paletteCompletions('ses').map((c) => c.text)).toEqual([
      'session list',
      'session show',
      'session stack',
      'session watch',
      'session resume',
      'session cancel',
      'session pause',
      'session respond',
      'session replay',
      'session branches',
      'session fork',
      'session rewind',
      'session checkout',
      'session diff',
      'session compensate',
      'session export',
      'session import',
      'session delete',
      'session prune',
    ]);
    expect(paletteCompletions('session sh').map((c) => c.text)).toEqual(['session show']);
    expect(paletteCompletions('conversation li').map((c) => c.text)).toEqual(['session list']);
    // conversation prune is its own command (a session's old branches), not session prune.
    expect(paletteCompletions('conversation pr').map((c) => c.text)).toEqual(['conversation prune']);
    expect(paletteCompletions('run agent_alpha hello').map((c) => c.text)).toEqual(['run']);
    expect(paletteCompletions('chat').map((c) => c.text)).toEqual([]);
  });
});

describe('state transitions', () => {
  it('scrolling up stops following; going to the bottom follows again', () => {
    let s = state();
    s = scrollPane(s, 'conversation', -3, 100, 20);
    expect(s.scroll.conversation).toEqual({ offset: 77, follow: false });
    s = scrollPane(s, 'conversation', 'top', 100, 20);
    expect(s.scroll.conversation).toEqual({ offset: 0, follow: false });
    s = scrollPane(s, 'conversation', 'bottom', 100, 20);
    expect(s.scroll.conversation).toEqual({ offset: 80, follow: true });
  });

  it('cycles focus through the panes and the input, both ways', () => {
    let s = state({ screen: 'session', focus: 'conversation' });
    const seen: string[] = [];
    for (let i = 0; i < 7; i++) {
      s = cycleFocus(s, 1);
      seen.push(s.focus);
    }
    expect(seen).toEqual(['frames', 'stack', 'judge', 'wallets', 'events', 'input', 'conversation']);
    expect(cycleFocus(state({ focus: 'conversation' }), -1).focus).toBe('input');
  });

  it('edits the input: pasted newlines become spaces, control characters are dropped, Ctrl-W deletes a word', () => {
    const typed = insertText({ text: '', cursor: 0 }, 'hello\nworld\u0007');
    expect(typed).toEqual({ text: 'hello world', cursor: 11 });
    expect(deleteWord(typed)).toEqual({ text: 'hello ', cursor: 6 });
  });
});

describe('session projection', () => {
  it('follows a real session: conversations in tree order, entries, usage, questions, and no waiting rows in the timeline', async () => {
    const t = await testEngine([
      {
        id: 'lead',
        description: 'Lead.',
        agents: ['w'],
        script: [
          { when: '.', steps: [{ parallel: [{ delegate: 'w', message: 'a' }, { ask: 'Which?' }] }, { reply: 'done' }] },
        ],
      },
      { id: 'w', description: 'W.', script: [{ when: '.', steps: [{ reply: 'ok' }] }] },
    ]);
    engines.push(t);
    const session = t.engine.start({
      agent: 'lead',
      message: 'go',
      source: 'api',
      options: t.options({ approval: 'ask' }),
    });
    await session.idle();
    const projection = new SessionProjection(session.id);
    for (const event of t.engine.store.log.read(0, { session: session.id })) projection.apply(event);
    expect(projection.order.map((id) => projection.conversations.get(id)!.agent)).toEqual(['lead', 'w']);
    expect(projection.firstQuestion()).toMatchObject({ agent: 'lead', question: 'Which?' });
    expect(projection.timeline.some((i) => i.entry.kind === 'waiting')).toBe(false);
    expect(projection.usage.calls).toBe(2);
    expect(projection.status).toBe('waiting');
    await session.respond(projection.firstQuestion()!.callId, 'that');
    await session.idle();
    for (const event of t.engine.store.log.read(projection.lastSeq, { session: session.id })) projection.apply(event);
    expect(projection.questions.size).toBe(0);
    expect(projection.status).toBe('finished');
  });

  it('streams text and tool-call arguments as they arrive, and a retry voids what the failed attempt streamed', () => {
    const projection = new SessionProjection('s');
    const base = { session: 's', conversation: 'c', agent: 'a', modelCall: 'm1' } as const;
    projection.applyDelta({ type: 'delta', ...base, text: 'Checking ' });
    projection.applyDelta({ type: 'delta', ...base, text: 'both.' });
    projection.applyDelta({ type: 'tool.delta', ...base, callId: 'x', name: 'weather', argumentsDelta: '{"city":' });
    projection.applyDelta({ type: 'tool.delta', ...base, callId: 'x', name: 'weather', argumentsDelta: '"Oslo"}' });
    projection.applyDelta({
      type: 'tool.delta',
      ...base,
      callId: 'y',
      name: 'weather',
      argumentsDelta: '{"city":"Bergen"}',
    });
    expect(projection.streaming.get('c')!.text).toBe(
      'Checking both.\n→ weather {"city":"Oslo"}\n→ weather {"city":"Bergen"}',
    );
    projection.applyDelta({
      type: 'model.retry',
      ...base,
      attempt: 1,
      delayMs: 1500,
      reason: 'openai is rate limiting (HTTP 429)',
    });
    expect(projection.streaming.get('c')!.text).toBe('(retry 1 in 1.5 s: openai is rate limiting (HTTP 429))\n');
  });

  it('builds the conversation lines incrementally, the same as from scratch, and rewraps on resize', async () => {
    const t = await testEngine([
      {
        id: 'w',
        description: 'W.',
        script: [{ when: '.', steps: [{ reply: 'a reply long enough to wrap on a narrow pane, several times over' }] }],
      },
    ]);
    engines.push(t);
    const session = t.engine.start({ agent: 'w', message: 'first', source: 'api', options: t.options() });
    await session.idle();
    const projection = new SessionProjection(session.id);
    const incremental = new TimelineLines();
    const events = t.engine.store.log.read(0, { session: session.id });
    for (const event of events) {
      projection.apply(event);
      incremental.update(projection, 30);
    }
    const scratch = new TimelineLines().update(projection, 30);
    expect(incremental.lines.map(lineText)).toEqual(scratch.map(lineText));
    const wider = incremental.update(projection, 120);
    expect(wider.length).toBeLessThan(scratch.length);
  });
});

describe('the fork form', () => {
  const form = (): ForkForm =>
    openForkForm({
      atSeq: 3,
      step: 'agent_alpha #0',
      agent: 'agent_alpha',
      sessionAgents: ['agent_alpha', 'agent_beta'],
      workspaceAgents: ['agent_alpha', 'agent_beta', 'agent_helper'],
      sessionEffects: 'live',
    });
  /** Types `text` into field `field` of target `target` (an index of the form's targets). */
  const type = (f: ForkForm, target: number, field: number, text: string): ForkForm =>
    withFieldText({ ...f, target, field }, text, text.length);
  const hasTool = (name: string): boolean => name === 'calculate';

  it('starts on the step’s agent, with every agent first and the session’s agents before the other personas', () => {
    const f = form();
    expect(f.targets).toEqual([EVERY_AGENT, 'agent_alpha', 'agent_beta', 'agent_helper']);
    expect(f.targets[f.target]).toBe('agent_alpha');
    expect(formOverrides(f, hasTool)).toEqual({});
  });

  it('writes one agent’s values under personas and every agent’s at the top level, each target its own', () => {
    let f = type(form(), 2, 2, '0.9'); // agent_beta's temperature
    f = type(f, 0, 1, 'openai/gpt-4o-mini'); // every agent's model
    f = type(f, 2, 4, 'calculate'); // agent_beta's tools
    expect(formOverrides(f, hasTool)).toEqual({
      model: 'openai/gpt-4o-mini',
      personas: { agent_beta: { temperature: 0.9, tools: ['calculate'] } },
    });
    expect(describeForm(f)).toBe(
      'every agent: model openai/gpt-4o-mini · agent_beta: temperature 0.9, tools calculate',
    );
  });

  it('writes the effects policy only when it is not the session’s, and cycles it with ← →', () => {
    let f = moveField(moveField(form(), -1), -1); // Shift-Tab twice: label, then effects
    expect(f.field).toBe(FORK_FIELDS.indexOf('effects'));
    f = cycleChoice(f, 1);
    expect(formOverrides(f, hasTool)).toEqual({ effects: 'dry-run' });
    f = cycleChoice(cycleChoice(f, 1), 1);
    expect(f.effects).toBe('live');
    expect(formOverrides(f, hasTool)).toEqual({});
  });

  it('refuses a bad value, naming the field and the agent, with the code the CLI gives', () => {
    expect(() => formOverrides(type(form(), 2, 2, 'hot'), hasTool)).toThrow(
      expect.objectContaining({
        code: 'E_USAGE',
        message: "temperature for agent_beta: 'hot' is not a number from 0 to 2",
      }),
    );
    expect(() => formOverrides(type(form(), 0, 4, 'calculate,nope'), hasTool)).toThrow(
      expect.objectContaining({ code: 'E_UNKNOWN_TOOL', message: "tools for every agent: unknown tool 'nope'" }),
    );
    expect(() => formOverrides(type(form(), 1, 1, 'gpt'), hasTool)).toThrow(
      expect.objectContaining({
        code: 'E_USAGE',
        message: "model for agent_alpha: 'gpt' is not of the form provider/name",
      }),
    );
  });

  it('describes a branch’s changes per agent, for the branch tree', () => {
    expect(
      describeChanges({ temperature: 0.2, personas: { agent_beta: { temperature: 0.9, system: 'You are terse.' } } }),
    ).toBe('every agent: temperature 0.2 · agent_beta: temperature 0.9, system prompt');
    expect(describeChanges({ effects: 'dry-run' })).toBe('');
  });
});
