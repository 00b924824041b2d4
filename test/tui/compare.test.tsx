import { afterEach, describe, expect, it } from 'vitest';
import { App } from '../../src/app/app.ts';
import { loadWorkspace } from '../../src/app/workspace.ts';
import { branchEntries } from '../../src/engine/branching.ts';
import { RolloutRunner } from '../../src/rollout/runner.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { UserError } from '../../src/core/errors.ts';
import { KEYS } from './render.ts';
import { closeTuis, onClose, openTui, ROOT, type Harness, runToGrid } from './harness.ts';
import type { CompleteOptions, ModelProvider, ModelRequest, ModelResponse } from '../../src/models/provider.ts';

/**
 * Comparisons, artifacts and the rollout grid in the TUI (issue 18, "Diff, artifacts and grid"): the real app over
 * the demo workspace, drawn in a fake terminal of a fixed size.
 */

/** Answers about the weather, differently at a higher temperature: two branches that differ in a few words. */
class WeatherProvider implements ModelProvider {
  readonly id = 'words';
  readonly simulated = true;
  /** Requests with this seed fail (a rollout's repeat that fails), every time. */
  failSeed: number | null = null;
  /** Lines per answer: a long answer makes a comparison taller than the screen. */
  lines = 1;
  async complete(request: ModelRequest, _options: CompleteOptions): Promise<ModelResponse> {
    if (this.failSeed === request.seed) throw new UserError('E_MODEL_AUTH', 'the model refused this seed');
    const sky = request.temperature > 1 ? 'light rain' : 'partly cloudy';
    return {
      text: Array.from(
        { length: this.lines },
        () => `The weather in Paris is ${sky} with a gentle breeze from the west all afternoon.`,
      ).join('\n'),
      toolCalls: [],
      usage: { inputTokens: 10, outputTokens: 10, estimated: true },
      finishReason: 'stop',
    };
  }
}

afterEach(closeTuis);

/** The TUI with the weather model registered (its answers differ by temperature). */
async function open(
  size: { columns: number; rows: number },
  color = false,
): Promise<Harness & { readonly model: WeatherProvider }> {
  const model = new WeatherProvider();
  return Object.assign(await openTui(size, { color, providers: [model] }), { model });
}

/**
 * A finished session on `main`, a branch forked at its first message with temperature 1.5 and run (`hot`: its answer
 * differs by two words), and a third branch forked there and left paused, checked out: neither of the first two is
 * the checked-out one. The TUI has the session open.
 */
async function threeBranches(h: Harness): Promise<{ session: string; main: string; hot: string; paused: string }> {
  const engine = h.app.engine;
  const runtime = engine.start({
    agent: 'agent_beta',
    message: 'How is the weather in Paris?',
    source: 'api',
    options: engine.sessionOptions({ model: 'words/x', temperature: 0 }),
  });
  expect(await runtime.idle()).toBe('finished');
  engine.release(runtime.id);
  const main = engine.store.sessions.resolve(runtime.id).headBranch;
  const first = branchEntries(engine.store, runtime.id, main)[0]!.seq;
  const hot = await engine.fork(runtime.id, {
    atSeq: first,
    label: 'hot',
    overrides: { temperature: 1.5 },
    createdBy: 'test',
    checkout: true,
  });
  const resumed = await engine.attach(runtime.id, {});
  resumed.resume();
  expect(await resumed.idle()).toBe('finished');
  engine.release(runtime.id);
  const paused = await engine.fork(runtime.id, {
    from: main,
    atSeq: first,
    label: 'paused',
    createdBy: 'test',
    checkout: true,
  });
  h.tui.bridge.open(runtime.id);
  await h.screen.waitFor('Conversation');
  return { session: runtime.id, main, hot: hot.branch.id, paused: paused.branch.id };
}

/** With main checked out, d on the hot branch compares it with main (the key that worked before m existed). */
async function compareHotWithMain(h: Harness, b: { main: string }): Promise<void> {
  h.tui.bridge.branching.checkout(b.main);
  await h.screen.waitFor(`checked out ${b.main}`);
  await h.screen.press('b');
  await h.screen.waitFor('Branches');
  await h.screen.press('j', 'd');
}

describe('comparing in the TUI', () => {
  it('compares any two branches: m marks one, d compares it with the one under the cursor, neither checked out', async () => {
    const h = await open({ columns: 120, rows: 32 });
    const b = await threeBranches(h);
    await h.screen.press('b');
    await h.screen.waitFor('Branches');
    // main is first (the cursor starts there); mark it, then d on the hot branch.
    await h.screen.press('m', 'j', 'd');
    const frame = await h.screen.waitFor('side by side (u switches');
    expect(frame).toContain(`Compare ${b.main} → ${b.hot}:`);
    expect(frame).not.toContain('(checked out)');
    expect(frame).toMatch(/they diverge in agent_beta at #\d/);
  });

  it('marks the changed words without colour, as the CLI does: [-old-] and {+new+}', async () => {
    const h = await open({ columns: 120, rows: 32 });
    await compareHotWithMain(h, await threeBranches(h));
    let frame = await h.screen.waitFor('side by side (u switches');
    expect(frame).toMatch(
      /The weather in Paris is \[-light rain-\] with .*\| .*The weather in Paris is \{\+partly cloudy\+\} with/,
    );
    await h.screen.press('u');
    frame = await h.screen.waitFor('unified (u switches');
    expect(frame).toMatch(/-asst +The weather in Paris is \[-light rain-\] with a gentle breeze/);
    expect(frame).toMatch(/\+asst +The weather in Paris is \{\+partly cloudy\+\} with a gentle breeze/);
  });

  it('highlights the changed words in colour (inverse), without the markers', async () => {
    const h = await open({ columns: 120, rows: 32 }, true);
    await compareHotWithMain(h, await threeBranches(h));
    await h.screen.waitFor('side by side (u switches');
    const raw = h.screen.rawFrame();
    const esc = String.fromCharCode(27);
    expect(raw).toMatch(new RegExp(`${esc}\\[7m(${esc}\\[[0-9;]*m)*light rain`));
    expect(h.screen.frame()).not.toContain('{+');
  });

  it('at 80 columns the entry kind takes a narrow column and the text keeps its room', async () => {
    const h = await open({ columns: 80, rows: 24 });
    await compareHotWithMain(h, await threeBranches(h));
    const frame = await h.screen.waitFor('they diverge in');
    const row = frame.split('\n').find((l) => /^ass.* \| ass/.test(l));
    expect(row).toBeDefined();
    // Both columns show the start of the answer, not `assistant_message The wea…`.
    expect(row).toMatch(/^asst +The weather in Paris is \[-lig/);
    expect(row).toMatch(/\| asst +The weather in Paris is \{\+par/);
    expect(frame).not.toContain('assistant_message');
  });

  it('refuses to compare a branch or an artifact with itself, with a notice', async () => {
    const h = await open({ columns: 120, rows: 32 });
    const b = await threeBranches(h);
    await h.screen.press('b');
    await h.screen.waitFor('Branches');
    // Without a mark, d compares with the checked-out branch: on that one, it would compare it with itself.
    await h.screen.press('j', 'j', 'd');
    await h.screen.waitFor(`${b.paused} is the same branch`);
    expect(h.screen.frame()).not.toContain('Compare ');
    await h.screen.press('k', 'k', 'm', 'd');
    await h.screen.waitFor(`${b.main} is the same branch`);
    expect(h.screen.frame()).not.toContain('Compare ');
    h.tui.bridge.branching.checkout(b.main);
    await h.screen.waitFor(`checked out ${b.main}`);
    await h.screen.press(KEYS.escape, 'A');
    await h.screen.waitFor('⎿');
    await h.screen.press('m', 'd');
    await h.screen.waitFor('that is the marked one');
    expect(h.screen.frame()).not.toContain('Compare ');
  });

  it('previews the selected artifact under it, and lists every branch’s entries with a toggles', async () => {
    const h = await open({ columns: 120, rows: 32 });
    const b = await threeBranches(h);
    await h.screen.press('A');
    let frame = await h.screen.waitFor('Artifacts and results, checked-out branch');
    // The paused branch has no answer yet: nothing of its own to list.
    expect(frame).not.toContain('light rain');
    // Back on main, its answer is there, previewed under the cursor.
    h.tui.bridge.branching.checkout(b.main);
    await h.screen.waitFor(`checked out ${b.main}`);
    await h.screen.press(KEYS.escape, 'A');
    frame = await h.screen.waitFor('⎿');
    expect(frame).toMatch(/› +e_\w+ +agent_beta assistant_message\n +⎿ The weather in Paris is partly cloudy/);
    await h.screen.press('a');
    frame = await h.screen.waitFor('Artifacts and results, every branch');
    expect(frame).toContain(`agent_beta assistant_message [${b.hot} hot]`);
    await h.screen.press('j');
    await h.screen.waitFor('⎿ The weather in Paris is light rain');
    // And the two answers compare (m, d) across branches.
    await h.screen.press('k', 'm', 'j', 'd');
    frame = await h.screen.waitFor('they diverge in content');
    expect(frame).toContain('{+light rain+}');
  });
});

describe('the rollout grid and list', () => {
  it('shows every repeat of a cell: 8 repeats with one failed, as counts', async () => {
    const h = await open({ columns: 100, rows: 30 });
    h.model.failSeed = 5;
    const { grid } = await runToGrid(
      h,
      'eight',
      'teams:\n  c:\n    base: { agent_id: agent_beta, model: words/x }\n    variants: [{ id: a, temperature: 0 }, { id: b, temperature: 0 }]\n    scenarios: ["How is the weather in Paris?"]\nrepeats: 8\njudge: { workspace: false }\n',
      (f) => f.includes('14/16 done'),
    );
    // Seven done and the failed fifth, counted: nothing is cut off.
    expect(grid).toMatch(/› c\/a +– +7● 1✗ /);
    expect(grid).toMatch(/ {2}c\/b +– +7● 1✗ /);
  });

  it('cuts a long variant name with … and keeps a space before the scores', async () => {
    const h = await open({ columns: 100, rows: 30 });
    const { grid } = await runToGrid(
      h,
      'names',
      'teams:\n  c:\n    base: { agent_id: agent_beta, model: words/x }\n    variants: [{ id: a-variant-with-a-name-far-too-long-for-its-column, temperature: 0 }, { id: b, temperature: 0 }]\n    scenarios: ["How is the weather in Paris?"]\n    eval: { evaluator_id: gpt4_judge, metric: score, rubric: helpfulness }\njudge: { workspace: false }\n',
      (f) => f.includes('2/2 done') && /\d\.\d\d ●/.test(f),
    );
    expect(grid).toMatch(/› c\/a-variant-with-a-name-far-too-lon… +\d\.\d\d ● /);
    expect(grid).not.toMatch(/[a-z]\d\.\d\d/);
  });

  it('updates the rollouts list live while it is open', async () => {
    const h = await open({ columns: 120, rows: 30 });
    await h.screen.press('R');
    await h.screen.waitFor('No rollouts yet');
    const spec = parseRolloutSpec(
      'teams:\n  c:\n    base: { agent_id: agent_beta, model: words/x }\n    variants: [{ id: cold, temperature: 0 }]\n    scenarios: ["How is the weather in Paris?"]\njudge: { workspace: false }\n',
      'rollouts/live.yaml',
      h.app.workspace,
    );
    // Another runner on the same database stands for `p2tui rollout run` in another terminal.
    const other = new App({
      workspace: await loadWorkspace(ROOT, {
        db: h.app.workspace.dbPath,
        configure: (p) => p.register(new WeatherProvider()),
      }),
    });
    onClose(() => other.close());
    const outcome = await new RolloutRunner(other).start(spec);
    const frame = await h.screen.waitFor((f) => f.includes(outcome.rollout.id) && f.includes('1/1 done'));
    expect(frame).toMatch(/live +finished +1\/1 done · \d+s ago/);
  });

  it('says “ago” once in the rollouts list', async () => {
    const h = await open({ columns: 120, rows: 30 });
    const spec = parseRolloutSpec(
      'teams:\n  c:\n    base: { agent_id: agent_beta, model: words/x }\n    variants: [{ id: cold, temperature: 0 }]\n    scenarios: ["How is the weather in Paris?"]\njudge: { workspace: false }\n',
      'rollouts/age.yaml',
      h.app.workspace,
    );
    await new RolloutRunner(h.app).start(spec);
    await h.screen.press('R');
    const frame = await h.screen.waitFor('1/1 done');
    expect(frame).toMatch(/age +finished +1\/1 done · \d+s ago/);
    expect(frame).not.toContain('ago ago');
  });
});

describe('the small ones', () => {
  it('a paused session shows no “working”', async () => {
    const h = await open({ columns: 120, rows: 40 });
    await threeBranches(h);
    const frame = await h.screen.waitFor((f) => f.split('\n')[0]!.includes('paused') && f.includes('Frames'));
    expect(frame).toContain('agent_beta');
    expect(frame).not.toMatch(/▶ \d+ working/);
  });

  it('says “1 step”, not “1 steps”', async () => {
    const h = await open({ columns: 120, rows: 40 });
    const b = await threeBranches(h);
    h.tui.bridge.branching.checkout(b.main);
    const frame = await h.screen.waitFor(`checked out ${b.main}`);
    expect(frame).toMatch(/#2 +finished +1 step\n|#2 +finished +1 step /);
    expect(frame).not.toContain('1 steps');
  });

  it('the palette keeps a wide table’s rows whole lines, cut with …', async () => {
    const h = await open({ columns: 80, rows: 24 });
    await threeBranches(h);
    await h.screen.press(':');
    await h.screen.waitFor('Command palette');
    await h.screen.press('session list', KEYS.enter);
    const frame = await h.screen.waitFor('How is the weather');
    const rows = frame.split('\n');
    const row = rows.findIndex((l) => l.includes('How is the weather'));
    expect(rows[row]).toMatch(/…$/);
    // The next line is not the rest of this one.
    expect(rows[row + 1]).not.toMatch(/^\s+\S/);
  });

  it('draws an overlay’s bottom border whole when there is nothing to say on it', async () => {
    const h = await open({ columns: 100, rows: 30 });
    await threeBranches(h);
    await h.screen.press('b');
    const frame = await h.screen.waitFor('Branches');
    expect(frame).toMatch(/\n─{100}\n/);
    expect(frame).not.toMatch(/\n─ {2}─/);
  });
});

describe('the events pane', () => {
  it('keeps its columns: a long event type is cut with …, its text starts where the others do', async () => {
    const h = await open({ columns: 200, rows: 60 });
    await threeBranches(h);
    const frame = await h.screen.waitFor('conversation.crea');
    const created = frame.split('\n').find((l) => l.includes('conversation.crea'))!;
    const started = frame.split('\n').find((l) => l.includes('session.created'))!;
    expect(created).toMatch(/\d+ conversation\.crea… agent_beta: conversation started/);
    expect(created.indexOf('agent_beta: conversation')).toBe(started.indexOf('session started'));
  });
});

/** A left click at a 0-based cell of the screen, as an SGR mouse report (press, then release). */
const click = (x: number, y: number): string => `\u001b[<0;${x + 1};${y + 1}M\u001b[<0;${x + 1};${y + 1}m`;

describe('the list overlays by mouse and by search', () => {
  it('selects a branch with a click (also on its wrapped changes), and d compares the clicked one', async () => {
    const h = await open({ columns: 120, rows: 32 });
    const b = await threeBranches(h);
    await h.screen.press('b');
    const lines = (await h.screen.waitFor('Branches')).split('\n');
    // (The header names the checked-out branch: the list starts under it.)
    const hotAt = lines.findIndex((l, i) => i > 1 && l.includes(b.hot));
    const pausedAt = lines.findIndex((l, i) => i > 1 && l.includes(b.paused));
    expect(lines[hotAt]).not.toContain('›');
    await h.screen.press(click(10, hotAt));
    expect(lines.length).toBe(32);
    let frame = h.screen.frame().split('\n');
    expect(frame[hotAt]).toMatch(/^› /);
    // The hot branch's changes take a line of their own under it: a click there selects the hot branch too.
    expect(pausedAt).toBeGreaterThan(hotAt + 1);
    await h.screen.press(click(10, pausedAt));
    expect(h.screen.frame().split('\n')[pausedAt]).toMatch(/^› /);
    await h.screen.press(click(10, hotAt + 1));
    frame = h.screen.frame().split('\n');
    expect(frame[hotAt]).toMatch(/^› /);
    // d compares the clicked branch with the checked-out one.
    await h.screen.press('d');
    await h.screen.waitFor(`Compare ${b.hot} → ${b.paused}`);
  });

  it('scrolls a comparison with the wheel', async () => {
    // Answers long enough that the comparison does not fit.
    const h = await open({ columns: 80, rows: 24 });
    h.model.lines = 30;
    await compareHotWithMain(h, await threeBranches(h));
    const before = await h.screen.waitFor('they diverge in');
    const scrolled = (f: string): string => /─ (\d+)\/(\d+) ─/.exec(f)?.[0] ?? '';
    const [, shown, total] = /─ (\d+)\/(\d+) ─/.exec(before)!;
    expect(Number(shown)).toBeLessThan(Number(total));
    await h.screen.press('\u001b[<65;5;5M');
    const after = h.screen.frame();
    expect(scrolled(after)).not.toBe(scrolled(before));
    expect(after).not.toContain('they diverge in');
    await h.screen.press('\u001b[<64;5;5M');
    expect(h.screen.frame()).toContain('they diverge in');
  });

  it('finds a rollout with / and n, and selects a grid cell with a click', async () => {
    const h = await open({ columns: 120, rows: 30 });
    for (const name of ['first', 'second']) {
      const spec = parseRolloutSpec(
        'teams:\n  c:\n    base: { agent_id: agent_beta, model: words/x }\n    variants: [{ id: a, temperature: 0 }, { id: b, temperature: 0 }]\n    scenarios: ["How is the weather in Paris?", "And in Oslo?"]\njudge: { workspace: false }\n',
        `rollouts/${name}.yaml`,
        h.app.workspace,
      );
      await new RolloutRunner(h.app).start(spec);
    }
    await h.screen.press('R');
    let frame = await h.screen.waitFor('Rollouts: Enter opens the grid');
    // Newest first: the cursor on `second`.
    expect(frame).toMatch(/› \S+ +second/);
    await h.screen.press('/', 'first', KEYS.enter);
    frame = h.screen.frame();
    expect(frame).toMatch(/› \S+ +first/);
    expect(frame).toContain('/first (1 line; n/N, Esc clears)');
    await h.screen.press(KEYS.escape);
    frame = h.screen.frame();
    expect(frame).not.toContain('/first');
    expect(frame).toContain('Rollouts: Enter opens the grid');
    await h.screen.press(KEYS.enter);
    const grid = (await h.screen.waitFor((f) => f.includes('Rollout first') && f.includes('4/4 done'))).split('\n');
    expect(grid.join('\n')).toContain('c/a · s1:');
    // The second cell of the second row (c/b · s2).
    const rowAt = grid.findIndex((l) => / c\/b +/.test(l));
    await h.screen.press(click(grid[rowAt]!.lastIndexOf('●'), rowAt));
    frame = h.screen.frame();
    expect(frame).toMatch(/› c\/b/);
    expect(frame).toContain('c/b · s2:');
  });

  it('finds branches with /, moves between the matches with n and N, and Esc clears the search', async () => {
    const h = await open({ columns: 120, rows: 32 });
    const b = await threeBranches(h);
    await h.screen.press('b');
    await h.screen.waitFor('Branches');
    const cursorOn = (id: string): boolean =>
      h.screen
        .frame()
        .split('\n')
        .some((l) => l.startsWith('›') && l.includes(id));
    expect(cursorOn(b.main)).toBe(true);
    await h.screen.press('/', 'forked at');
    expect(h.screen.frame()).toContain('/forked at▍');
    await h.screen.press(KEYS.enter);
    expect(cursorOn(b.hot)).toBe(true);
    expect(h.screen.frame()).toContain('/forked at (2 lines; n/N, Esc clears)');
    await h.screen.press('n');
    expect(cursorOn(b.paused)).toBe(true);
    await h.screen.press('N');
    expect(cursorOn(b.hot)).toBe(true);
    await h.screen.press(KEYS.escape);
    expect(h.screen.frame()).not.toContain('/forked at');
    expect(h.screen.frame()).toContain('Branches');
    await h.screen.press(KEYS.escape);
    expect(h.screen.frame()).not.toContain('Branches');
  });

  it('finds an artifact with / : the cursor goes to it and its preview shows; a click selects another', async () => {
    const h = await open({ columns: 120, rows: 32 });
    const b = await threeBranches(h);
    h.tui.bridge.branching.checkout(b.main);
    await h.screen.waitFor(`checked out ${b.main}`);
    await h.screen.press('A');
    await h.screen.waitFor('⎿');
    await h.screen.press('a');
    await h.screen.waitFor('Artifacts and results, every branch');
    expect(h.screen.frame()).not.toContain('⎿ The weather in Paris is light rain');
    await h.screen.press('/', `${b.hot} hot`, KEYS.enter);
    const frame = h.screen.frame();
    expect(frame).toContain('⎿ The weather in Paris is light rain');
    expect(frame).toMatch(new RegExp(`› .*\\[${b.hot} hot\\]`));
    expect(frame).not.toContain('⎿ The weather in Paris is partly cloudy');
    // A click on the first artifact moves the cursor (and the preview) back to it.
    const first = frame.split('\n').findIndex((l, i) => i > 1 && /^ +e_\w+/.test(l));
    await h.screen.press(click(10, first));
    const after = h.screen.frame();
    expect(after.split('\n')[first]).toMatch(/^› /);
    expect(after).toContain('⎿ The weather in Paris is partly cloudy');
  });
});
