import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';
import { childEnv } from '../helpers/child-env.ts';
import { LATEST_SCHEMA_VERSION } from '../../src/store/migrations.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const MAIN = join(ROOT, 'src/cli/main.ts');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function p2tui(args: string[], options: { cwd?: string; input?: string; env?: Record<string, string> } = {}): Result {
  const r = spawnSync(process.execPath, [MAIN, ...args], {
    cwd: options.cwd ?? ROOT,
    input: options.input ?? '',
    encoding: 'utf8',
    env: childEnv(options.env),
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-cli-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'p2tui.db');
}

function workspace(files: Record<string, string>): TempWorkspace {
  const ws = tempWorkspace(files);
  cleanups.push(() => ws.cleanup());
  return ws;
}

/** The demo workspace (the repository root) with a throwaway database. */
function demo(args: string[], db: string, input?: string): Result {
  // Temperature 0 for sessions started here: the demo personas run at 0.2, where the simulator may skip a step.
  const exact =
    (args[0] === 'run' || args[0] === 'chat') && !args.includes('--temperature') ? ['--temperature', '0'] : [];
  return p2tui([...args, ...exact, '--db', db], input === undefined ? {} : { input });
}

/**
 * A workspace tool that returns only once the test creates the named file in the workspace (or the call is
 * stopped): a session calling it stays running exactly as long as the test wants, however loaded the machine is.
 */
const GATE_TOOL = `import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { defineTool, z } from 'p2tui';

export const waitForGate = defineTool({
  name: 'wait_for_gate',
  description: 'Waits until the named file appears in the workspace.',
  input: z.object({ file: z.string() }),
  effect: 'pure',
  timeoutMs: 600_000,
  async run({ file }, ctx) {
    while (!existsSync(join(ctx.workspace, file))) {
      if (ctx.signal.aborted) throw new Error('stopped');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return { summary: file + ' appeared' };
  },
});
`;

/** A workspace whose persona `gated` calls wait_for_gate once per file, in order, then replies `reply`. */
function gatedWorkspace(files: string[], reply: string): TempWorkspace {
  const ws = workspace({ 'tools/gate.ts': GATE_TOOL });
  ws.persona({
    id: 'gated',
    description: 'Waits for the test.',
    tools: ['wait_for_gate'],
    script: [{ when: '.', steps: [...files.map((file) => ({ call: 'wait_for_gate', args: { file } })), { reply }] }],
  });
  return ws;
}

/**
 * Polls until `done` holds; fails naming `what` (with the stderr of `child`, the process expected to get there)
 * as soon as that process has exited, or after `ms`, rather than hanging until the test's timeout.
 */
async function until(what: string, done: () => boolean, child?: ChildProcess, ms = 60_000): Promise<void> {
  let stderr = '';
  child?.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + ms;
  while (!done()) {
    const gone = child !== undefined && child.exitCode !== null;
    if (gone || Date.now() > deadline) {
      const why = gone ? `the process exited with code ${child.exitCode}` : `${ms} ms passed`;
      throw new Error(`gave up waiting for ${what}: ${why}${stderr === '' ? '' : `; its stderr: ${stderr}`}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('p2tui CLI', () => {
  it('--help lists every command group; a command explains its arguments and options', () => {
    const help = p2tui(['--help']);
    expect(help.code).toBe(0);
    for (const word of [
      'run <agent> <message>',
      'chat',
      'Commands: list, show, stack, watch, resume, cancel, pause, respond',
      'agents ',
      'tools ',
      'events ',
      'init',
      'doctor',
      'Exit codes',
    ]) {
      expect(help.stdout).toContain(word);
    }
    const run = p2tui(['run', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Usage: p2tui run <agent> <message> [options]');
    expect(run.stdout).toMatch(/--approval <deny\|approve\|ask>/);
    expect(run.stdout).toContain('--workspace <dir>');
    // conversation is session's alias but for its own prune (P2Engine's: a session's old branches; issue 19).
    const conversation = p2tui(['conversation', '--help']).stdout;
    expect(conversation).toContain('Usage: p2tui conversation <command>');
    expect(conversation).toContain('  session list [options]');
    expect(conversation).toContain('  conversation prune <session> [options]');
  });

  it('rejects unknown commands and bad options with exit code 2 and a hint', () => {
    const unknown = p2tui(['sesion', 'list']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error E_USAGE: unknown command 'sesion'");
    expect(unknown.stderr).toContain("Did you mean 'p2tui session'?");
    const bad = p2tui(['run', 'agent_alpha', 'hi', '--temperature', 'warm']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--temperature needs a number');
    const missing = p2tui(['run', 'agent_alpha']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('run needs <message>');
  });

  it('run --json prints one object: session id, final answer, and every entry of every conversation', () => {
    const db = tempDb();
    const r = demo(
      ['run', 'agent_alpha', "What's the weather in Paris and who leads the Premier League?", '--json', '--seed', '3'],
      db,
    );
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as {
      session: string;
      status: string;
      answer: string;
      simulated: boolean;
      entries: { kind: string; agent: string; conversation: string }[];
      usage: { total: { calls: number } };
    };
    expect(out.session).toMatch(/^s_/);
    expect(out.status).toBe('finished');
    expect(out.simulated).toBe(true);
    expect(out.answer).toContain('Manchester City leads the Premier League');
    expect(new Set(out.entries.map((e) => e.agent))).toEqual(new Set(['agent_alpha', 'agent_helper', 'agent_beta']));
    expect(new Set(out.entries.map((e) => e.conversation)).size).toBe(3);
    expect(out.entries.filter((e) => e.kind === 'agent_call')).toHaveLength(2);
    expect(out.usage.total.calls).toBe(6);
  });

  it('run prints the steps as they happen, delegations indented under their caller', () => {
    const r = demo(['run', 'agent_alpha', "What's the weather in Paris and who leads the Premier League?"], tempDb());
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^agent_alpha ▸ → delegate to agent_helper: What's the weather in Paris$/m);
    expect(r.stdout).toMatch(/^ {2}agent_helper ▸ → get_weather \{"location":"Paris","unit":"celsius"\}$/m);
    expect(r.stdout).toMatch(/^ {2}agent_helper ▸ ← get_weather \(ok, \d+ ms\) Paris: 22 °C, partly cloudy$/m);
    expect(r.stdout).toMatch(/✓ finished · 6 model calls · \d+ tokens · \$[\d.]+ \(simulated\)/);
  });

  it('an unattended run never hangs on a question: it exits 4 and the answer can come later from any process', () => {
    const db = tempDb();
    const r = demo(['run', 'agent_helper', 'What is the weather like?'], db);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain('agent_helper asks: Which location should I use for get weather?');
    expect(r.stdout).toMatch(/Answer with: p2tui session respond s_\w+ "<answer>"/);
    const shown = JSON.parse(demo(['session', 'show', 'last', '--json'], db).stdout) as {
      status: string;
      questions: { question: string }[];
    };
    expect(shown.status).toBe('waiting');
    expect(shown.questions).toHaveLength(1);
    const answered = demo(['session', 'respond', 'last', 'Oslo'], db);
    expect(answered.code).toBe(0);
    expect(answered.stdout).toContain('Oslo: 4 °C, snow showers');
    const policy = demo(['run', 'agent_helper', 'What is the weather like?', '--approval', 'deny'], db);
    expect(policy.code).toBe(0);
    expect(policy.stdout).toContain('← answer (policy): No.');
  });

  it('a payment above the approval threshold waits for a person: asked in an unattended run, paid once approved from another process', () => {
    const db = tempDb();
    expect(demo(['ledger', 'init'], db).code).toBe(0);
    const r = demo(['run', 'treasurer', 'transfer 150 to agent_beta'], db);
    expect(r.code).toBe(4);
    expect(r.stdout).toContain(
      'treasurer asks: approve transfer_funds? treasurer pays 150 to agent_beta: above the approval threshold of 100 (policies.spend in personas/treasurer.md) (yes/no)',
    );
    // agent_beta starts with its persona's 100: nothing moved while the question waits.
    expect(JSON.parse(demo(['ledger', 'balance', 'agent_beta', '--json'], db).stdout)).toMatchObject({
      balance: '100',
    });
    const answered = demo(['session', 'respond', 'last', 'yes'], db);
    expect(answered.code).toBe(0);
    expect(answered.stdout).toContain('Paid: paid 150');
    expect(JSON.parse(demo(['ledger', 'balance', 'agent_beta', '--json'], db).stdout)).toMatchObject({
      balance: '250',
    });
    // Unattended with --approval deny: refused, nothing paid, and the run does not hang.
    const denied = demo(['run', 'treasurer', 'transfer 120 to agent_beta', '--approval', 'deny'], db);
    expect(denied.code).toBe(0);
    expect(denied.stdout).toContain("not run: the session's approval policy (deny) refused it");
    expect(JSON.parse(demo(['ledger', 'balance', 'agent_beta', '--json'], db).stdout)).toMatchObject({
      balance: '250',
    });
  });

  it('names the file and line of a broken persona, and the agent nobody defined (exit 3)', () => {
    const ws = workspace({ 'personas/helper.yaml': 'id: helper\ndescription: Helps.\ntools: [nope]\n' });
    const r = p2tui(['run', 'helper', 'hi', '--workspace', ws.dir]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('error E_PERSONA_INVALID:');
    expect(r.stderr).toContain("personas/helper.yaml:3:9: tools[0]: unknown tool 'nope'");
    const good = workspace({ 'personas/helper.yaml': 'id: helper\ndescription: Helps.\n' });
    const unknown = p2tui(['run', 'helpr', 'hi', '--workspace', good.dir]);
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain("error E_UNKNOWN_AGENT: unknown agent 'helpr'");
    expect(unknown.stderr).toContain('Did you mean helper?');
    const json = p2tui(['run', 'helpr', 'hi', '--workspace', good.dir, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({
      error: { code: 'E_UNKNOWN_AGENT', hint: expect.stringContaining('helper') },
    });
  });

  it('refuses a database from a newer p2tui without touching it (exit 5)', () => {
    const db = tempDb();
    demo(['session', 'list'], db);
    const raw = new Database(db);
    raw.pragma('user_version = 99');
    raw.close();
    const r = demo(['session', 'list'], db);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('error E_DB_NEWER_SCHEMA');
    expect(r.stderr).toContain('hint: Upgrade p2tui');
  });

  it('session list, show and stack read a session from the store, in text and JSON', () => {
    const db = tempDb();
    demo(['run', 'agent_alpha', "What's the weather in Paris and who leads the Premier League?"], db);
    const list = JSON.parse(demo(['session', 'list', '--json'], db).stdout) as { id: string; status: string }[];
    expect(list).toHaveLength(1);
    expect(list[0]!.status).toBe('finished');
    const show = JSON.parse(demo(['conversation', 'show', list[0]!.id.slice(0, 5), '--json'], db).stdout) as {
      conversations: { agent: string; depth: number; phase: string }[];
      usage: { byAgent: Record<string, unknown> };
    };
    expect(show.conversations.map((c) => [c.agent, c.depth, c.phase])).toEqual([
      ['agent_alpha', 0, 'finished'],
      ['agent_helper', 1, 'finished'],
      ['agent_beta', 1, 'finished'],
    ]);
    expect(Object.keys(show.usage.byAgent).sort()).toEqual(['agent_alpha', 'agent_beta', 'agent_helper']);
    const stack = demo(['session', 'stack', 'last', '--conversation', 'agent_helper'], db);
    expect(stack.code).toBe(0);
    expect(stack.stdout).toContain('Frame stack');
    expect(stack.stdout).toMatch(/#0\s+seq \d+\s+user_message\s+What's the weather in Paris/);
    expect(stack.stdout).toMatch(/tool_result\s+get_weather ok/);
    const text = demo(['session', 'show', 'last'], db).stdout;
    expect(text).toContain('(simulated)');
    expect(text).toContain('Answer');
  });

  it('events export writes JSONL in seq order; events tail shows the newest', () => {
    const db = tempDb();
    demo(['run', 'agent_beta', 'Calculate 6 * 7'], db);
    const lines = demo(['events', 'export', '--session', 'last'], db)
      .stdout.trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { seq: number; type: string; kind: string | null });
    expect(lines.length).toBeGreaterThan(5);
    expect(lines.map((l) => l.seq)).toEqual([...lines.map((l) => l.seq)].sort((a, b) => a - b));
    expect(lines.some((l) => l.kind === 'tool_result')).toBe(true);
    const tail = demo(['events', 'tail', '-n', '2', '--json', '--kind', 'tool_call'], db).stdout.trim().split('\n');
    expect(tail).toHaveLength(1);
    expect(JSON.parse(tail[0]!)).toMatchObject({
      kind: 'tool_call',
      payload: { tool: 'calculate', args: { expression: '6 * 7' } },
    });
  });

  it('init scaffolds a workspace whose TypeScript tool and personas run at once; doctor approves it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-init-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const init = p2tui(['init', 'team'], { cwd: dir });
    expect(init.code).toBe(0);
    const ws = join(dir, 'team');
    for (const file of [
      'p2tui.yaml',
      'personas/assistant.yaml',
      'personas/researcher.md',
      'tools/word_count.ts',
      'rollouts/example.yaml',
    ])
      expect(existsSync(join(ws, file))).toBe(true);
    const again = p2tui(['init', 'team'], { cwd: dir });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('nothing was written');
    // Temperature 0: at the template's 0.2 the simulator may, by design, answer without the tool.
    const run = p2tui(['run', 'assistant', 'Count the words of: the quick brown fox', '--json', '--temperature', '0'], {
      cwd: ws,
    });
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as {
      answer: string;
      scores: { evaluator: string; value: number; judge: string | null }[];
    };
    expect(result.answer).toContain('4 words');
    // The scaffold's judge scored the run before it exited.
    expect(result.scores.map((sc) => [sc.evaluator, sc.judge])).toEqual(
      expect.arrayContaining([
        ['quality', 'scripted/judge'],
        ['finished', null],
      ]),
    );
    const doctor = p2tui(['doctor'], { cwd: ws });
    expect(doctor.code).toBe(0);
    expect(doctor.stdout).toMatch(/✓ workspace\s+.*2 personas, 1 tools/);
    expect(doctor.stdout).toMatch(
      new RegExp(`✓ database\\s+.*schema ${LATEST_SCHEMA_VERSION}/${LATEST_SCHEMA_VERSION}, wal mode`),
    );
    expect(doctor.stdout).toMatch(/✓ judge\s+2 evaluators \(quality: llm, finished: assert\), 1 rubrics/);
    const empty = p2tui(['doctor'], { cwd: dir });
    expect(empty.code).toBe(1);
    expect(empty.stdout).toContain('Run p2tui init here');
  });

  it('chat reads messages line by line and answers each', () => {
    const db = tempDb();
    const r = demo(['chat', 'agent_beta'], db, 'Calculate 2 + 2\nWho leads La Liga?\n/exit\n');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('2 + 2 = 4.');
    expect(r.stdout).toContain('Real Madrid leads the La Liga.');
    expect(r.stdout).toMatch(/continue with: p2tui chat --session s_\w+/);
    const show = JSON.parse(demo(['session', 'show', 'last', '--json'], db).stdout) as {
      conversations: { entries: number }[];
      answer: string;
    };
    expect(show.conversations[0]!.entries).toBe(12);
  });

  it('agents list and tools list describe the workspace', () => {
    const agents = JSON.parse(p2tui(['agents', 'list', '--json']).stdout) as {
      id: string;
      simulated: boolean;
      agents: string[];
    }[];
    expect(agents.map((a) => a.id)).toEqual(['agent_alpha', 'agent_beta', 'agent_helper', 'treasurer']);
    expect(agents.every((a) => a.simulated)).toBe(true);
    const tools = JSON.parse(p2tui(['tools', 'list', '--json']).stdout) as {
      name: string;
      effect: string;
      reconcile: boolean;
    }[];
    expect(tools.find((t) => t.name === 'write_note')).toMatchObject({ effect: 'effectful', reconcile: true });
  });

  it('another process can watch a running session live and cancel it', async () => {
    // The session waits on files only this test creates (never `second`): it runs until the cancel, so the watcher
    // and the cancel never race the session's end.
    const ws = gatedWorkspace(['first', 'second'], 'never reached');
    const db = join(ws.dir, 'p2tui.db');
    const child = spawn(process.execPath, [MAIN, 'run', 'gated', 'go', '--workspace', ws.dir, '--db', db], {
      env: childEnv(),
    });
    cleanups.push(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await until('the session to start', () => out.includes('session s_'), child);
    const id = /session (s_\w+)/.exec(out)![1]!;
    const watcher = spawn(
      process.execPath,
      [MAIN, 'session', 'watch', id, '--until-done', '--workspace', ws.dir, '--db', db],
      { env: childEnv() },
    );
    cleanups.push(() => watcher.kill('SIGKILL'));
    let watched = '';
    watcher.stdout.on('data', (d: Buffer) => (watched += d.toString()));
    const watcherExited = new Promise<number | null>((resolve) => watcher.on('exit', (code) => resolve(code)));
    await until(
      'the watcher to show the first call',
      () => watched.includes('gated ▸ → wait_for_gate {"file":"first"}'),
      watcher,
    );
    // What happens from here on happens while the watcher runs: it must show it as it happens, since the session
    // stays blocked on `second` until the cancel below, which comes only once the watcher has shown that call.
    ws.write('first', '');
    await until(
      'the watcher to show the second call live',
      () => watched.includes('gated ▸ → wait_for_gate {"file":"second"}'),
      watcher,
    );
    expect(watched).toContain('gated ▸ you: go');
    expect(watched).toContain('gated ▸ ← wait_for_gate (ok');
    expect(watched).not.toContain('session cancelled');
    const cancel = p2tui(['session', 'cancel', id, '--workspace', ws.dir, '--db', db]);
    expect(cancel.code).toBe(0);
    expect(cancel.stdout).toMatch(/asked pid \d+ .* to cancel; the session is now cancelled/);
    expect(await exited).toBe(1);
    expect(await watcherExited).toBe(1);
    expect(watched).toContain('session cancelled');
    expect(out).toContain('session cancelled');
    expect(out).not.toContain('never reached');
  }, 120_000);

  it('watching a session whose driver was killed says how to continue it, instead of waiting forever', async () => {
    const db = tempDb();
    const child = spawn(
      process.execPath,
      [
        MAIN,
        'run',
        'agent_alpha',
        "What's the weather in Paris and who leads the Premier League?",
        '--model',
        'scripted/slow',
        '--temperature',
        '0',
        '--db',
        db,
      ],
      { cwd: ROOT, env: childEnv() },
    );
    cleanups.push(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    while (!out.includes('→ delegate to')) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('exit', resolve));
    const watch = demo(['session', 'watch', 'last', '--until-done'], db);
    expect(watch.code).toBe(1);
    expect(watch.stdout).toContain('agent_alpha ▸ → delegate to agent_helper');
    expect(watch.stderr).toMatch(/No process drives session s_\w+ now\. Continue it with: p2tui session resume s_\w+/);
    const resumed = demo(['session', 'resume', 'last'], db);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain(
      'In short: Paris: 22 °C, partly cloudy; Manchester City leads the Premier League.',
    );
  });

  it('read commands never create a database, and work while a persona is broken', () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-ro-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const missing = join(dir, 'nope', 'p2tui.db');
    const list = p2tui(['session', 'list', '--db', missing]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain('No sessions yet');
    expect(existsSync(join(dir, 'nope'))).toBe(false);
    expect(p2tui(['session', 'show', 'last', '--db', missing]).stderr).toContain(
      `there is no database at ${missing} yet`,
    );
    const db = tempDb();
    demo(['run', 'agent_beta', 'Calculate 1 + 1'], db);
    const broken = workspace({ 'personas/x.yaml': 'id: x\n' });
    expect(p2tui(['session', 'list', '--workspace', broken.dir, '--db', db]).code).toBe(0);
    expect(p2tui(['events', 'tail', '--workspace', broken.dir, '--db', db]).code).toBe(0);
    expect(p2tui(['session', 'watch', 'last', '--until-done', '--workspace', broken.dir, '--db', db]).code).toBe(0);
    const out = p2tui(['events', 'export', '--out', join(dir, 'no', 'such', 'folder', 'x.jsonl'), '--db', db]);
    expect(out.code).toBe(6);
    expect(out.stderr).toContain('error E_FILE_NOT_FOUND');
    expect(out.stderr).toContain('does not exist');
  });

  it('watch --until-done of an older session ends even when newer sessions wrote later', () => {
    const db = tempDb();
    demo(['run', 'agent_beta', 'Calculate 1 + 1'], db);
    const first = (JSON.parse(demo(['session', 'list', '--json'], db).stdout) as { id: string }[])[0]!.id;
    demo(['run', 'agent_beta', 'Calculate 2 + 2'], db);
    const watch = demo(['session', 'watch', first, '--until-done'], db);
    expect(watch.code).toBe(0);
    expect(watch.stdout).toContain('1 + 1 = 2.');
    expect(watch.stdout).not.toContain('2 + 2');
  });

  it('chat --session answers the question a session is waiting on', () => {
    const db = tempDb();
    expect(demo(['run', 'agent_helper', 'What is the weather like?'], db).code).toBe(4);
    const chat = demo(['chat', '--session', 'last'], db, 'Oslo\n/exit\n');
    expect(chat.code).toBe(0);
    expect(chat.stdout).toContain('agent_helper asks: Which location should I use for get weather?');
    expect(chat.stdout).toContain('Oslo: 4 °C, snow showers');
  });

  it('a session paused from another terminal waits, and goes on when resumed from another', async () => {
    // The session waits on files only this test creates: on `open`, so the pause lands mid-session however loaded
    // the machine is; then on `resumed`, so it is still running when the resume reports. Once `open` is there, only
    // the pause keeps the session from its next step (an instant scripted call).
    const ws = gatedWorkspace(['open', 'resumed'], 'all done');
    const db = join(ws.dir, 'p2tui.db');
    const inWs = (args: string[]): Result => p2tui([...args, '--workspace', ws.dir, '--db', db]);
    const child = spawn(process.execPath, [MAIN, 'run', 'gated', 'go', '--workspace', ws.dir, '--db', db], {
      env: childEnv(),
    });
    cleanups.push(() => child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await until('the session to call the gate', () => out.includes('gated ▸ → wait_for_gate'), child);
    const pause = inWs(['session', 'pause', 'last']);
    expect(pause.stdout).toMatch(/to pause; the session is now paused/);
    // The running call finishes (a pause stops only new steps), and then the session rests.
    ws.write('open', '');
    await until('the call to finish', () => out.includes('gated ▸ ← wait_for_gate (ok'), child);
    await until('the paused notice', () => out.includes('paused; continue with: p2tui session resume'), child);
    // Without the pause the next step would have started by now.
    await new Promise((r) => setTimeout(r, 1000));
    const show = JSON.parse(inWs(['session', 'show', 'last', '--json']).stdout) as { status: string };
    expect(show.status).toBe('paused');
    expect(child.exitCode).toBeNull();
    expect(out).not.toContain('wait_for_gate {"file":"resumed"}');
    const resume = inWs(['session', 'resume', 'last']);
    expect(resume.stdout).toMatch(/to resume; the session is now running/);
    await until(
      'the next step after the resume',
      () => out.includes('gated ▸ → wait_for_gate {"file":"resumed"}'),
      child,
    );
    ws.write('resumed', '');
    expect(await exited).toBe(0);
    expect(out).toContain('gated ▸ all done');
  }, 120_000);

  it('the bin refuses an old Node with a message naming the Node it needs', () => {
    const old = '/usr/bin/node';
    const version = existsSync(old) ? spawnSync(old, ['--version'], { encoding: 'utf8' }).stdout.trim() : '';
    if (!/^v(1\d|2[01])\./.test(version)) return; // this machine has no Node older than 22 to try
    const r = spawnSync(old, [join(ROOT, 'bin/p2tui.js'), '--help'], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`p2tui needs Node 22.12 or newer; this is Node ${version}.`);
  });
});
