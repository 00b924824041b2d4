import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../../src/commands/run/run.ts';
import { agentsListCommand, toolsListCommand } from '../../../src/commands/workspace/catalog.ts';
import { doctorCommand } from '../../../src/commands/workspace/doctor.ts';
import { eventsExportCommand, eventsTailCommand } from '../../../src/commands/workspace/events.ts';
import { initCommand } from '../../../src/commands/workspace/init.ts';
import { INIT_FILES } from '../../../src/commands/workspace/init-templates.ts';
import { EXIT } from '../../../src/commands/types.ts';
import { commandContext, type TestContext } from '../helpers.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function emptyDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'p2tui-init-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function context(dir: string): TestContext {
  const ctx = commandContext(dir);
  cleanups.push(() => ctx.close());
  return ctx;
}

/** A workspace made by `p2tui init`, and a context over it. */
async function initialised(): Promise<{ dir: string; ctx: TestContext }> {
  const dir = emptyDir();
  const init = await context(dir).run(initCommand, []);
  expect(init.exitCode).toBe(EXIT.ok);
  return { dir, ctx: context(dir) };
}

describe('init', () => {
  it('writes a workspace into an empty folder and says what to run next', async () => {
    const parent = emptyDir();
    // With a `p2tui` on PATH (as after `npm link`) the next step names it; test/docs/walkthrough.test.ts runs both.
    const bin = emptyDir();
    writeFileSync(join(bin, 'p2tui'), '#!/bin/sh\n', { mode: 0o755 });
    const path = process.env['PATH'];
    process.env['PATH'] = bin;
    const r = await context(parent)
      .run(initCommand, ['team'])
      .finally(() => (process.env['PATH'] = path));
    expect(r.exitCode).toBe(EXIT.ok);
    const dir = join(parent, 'team');
    for (const file of Object.keys(INIT_FILES)) expect(readFileSync(join(dir, file), 'utf8')).toBe(INIT_FILES[file]);
    expect(r.json).toEqual({ dir, files: Object.keys(INIT_FILES) });
    expect(r.lines).toEqual([
      `Created a p2tui workspace in ${dir}:`,
      ...Object.keys(INIT_FILES).map((f) => `  ${f}`),
      '',
      'Next:',
      '  cd team && p2tui run assistant "Count the words of: the quick brown fox"',
      '  p2tui agents list',
    ]);
  });

  it('refuses a folder that already has its files, writing nothing; --force overwrites them', async () => {
    const dir = emptyDir();
    writeFileSync(join(dir, 'p2tui.yaml'), 'model: scripted/default\n');
    await expect(context(dir).run(initCommand, [])).rejects.toMatchObject({
      code: 'E_WORKSPACE',
      message: `${dir} already has p2tui.yaml; nothing was written`,
      hint: 'Use --force to overwrite them, or pick another folder.',
    });
    expect(readFileSync(join(dir, 'p2tui.yaml'), 'utf8')).toBe('model: scripted/default\n');
    expect(existsSync(join(dir, 'personas'))).toBe(false);
    const forced = await context(dir).run(initCommand, ['--force', '--json']);
    expect(forced.exitCode).toBe(EXIT.ok);
    expect(forced.lines).toEqual([]);
    expect(readFileSync(join(dir, 'p2tui.yaml'), 'utf8')).toBe(INIT_FILES['p2tui.yaml']);
  });
});

describe('agents list and tools list', () => {
  it('agents list --json describes each persona of the workspace', async () => {
    const { ctx } = await initialised();
    const r = await ctx.run(agentsListCommand, ['--json']);
    expect(r.exitCode).toBe(EXIT.ok);
    const agents = r.json as { id: string; model: string; simulated: boolean; tools: string[] }[];
    expect(agents.map((a) => a.id).sort()).toEqual(['assistant', 'researcher']);
    for (const a of agents) expect(a).toMatchObject({ model: expect.stringMatching(/^scripted\//), simulated: true });
    expect(agents.find((a) => a.id === 'assistant')?.tools).toContain('word_count');
    const text = await ctx.run(agentsListCommand, []);
    expect(text.lines[0]).toMatch(/^AGENT\s+MODEL\s+TOOLS\s+DELEGATES TO\s+DESCRIPTION$/);
  });

  it('tools list shows each tool, its effect class and who uses it, then the built-in ones', async () => {
    const { ctx } = await initialised();
    const r = await ctx.run(toolsListCommand, []);
    expect(r.exitCode).toBe(EXIT.ok);
    expect(r.lines[0]).toMatch(/^TOOL\s+EFFECT\s+USED BY\s+DESCRIPTION$/);
    expect(r.lines.find((l) => l.startsWith('word_count '))).toMatch(/^word_count\s+pure\b.*\bassistant\b/);
    expect(r.lines.at(-1)).toBe(
      'Built in: delegate (for agents with agents: [...]) and ask_user (unless policies.ask_user is false).',
    );
    const json = await ctx.run(toolsListCommand, ['--json']);
    expect(json.json).toEqual(
      expect.arrayContaining([expect.objectContaining({ name: 'word_count', usedBy: ['assistant'] })]),
    );
  });
});

describe('events', () => {
  it('events tail -n 5 --json prints the five newest events as JSON lines, oldest first', async () => {
    const { ctx } = await initialised();
    expect((await ctx.run(runCommand, ['assistant', 'Count the words of: one two three', '--json'])).exitCode).toBe(
      EXIT.ok,
    );
    const r = await ctx.run(eventsTailCommand, ['-n', '5', '--json']);
    expect(r.exitCode).toBe(EXIT.ok);
    expect(r.lines).toHaveLength(5);
    const events = r.lines.map((l) => JSON.parse(l) as { seq: number; type: string; session: string | null });
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(seqs.at(-1)).toBe((await ctx.store()).log.lastSeq());

    const entries = await ctx.run(eventsTailCommand, ['--type', 'entry', '--kind', 'user_message', '--json']);
    expect(entries.lines.map((l) => (JSON.parse(l) as { kind: string }).kind)).toEqual(['user_message']);
    await expect(ctx.run(eventsTailCommand, ['--type', 'entries'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: "unknown event type 'entries'",
    });
    await expect(ctx.run(eventsTailCommand, ['--kind', 'message'])).rejects.toMatchObject({
      code: 'E_USAGE',
      message: "unknown entry kind 'message'",
    });
  });

  it('events export writes every matching event to a file and says how many', async () => {
    const { dir, ctx } = await initialised();
    await ctx.run(runCommand, ['assistant', 'Count the words of: one two', '--json']);
    const file = join(dir, 'events.jsonl');
    const r = await ctx.run(eventsExportCommand, ['--session', 'last', '--out', file]);
    expect(r.exitCode).toBe(EXIT.ok);
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    expect(r.warnings).toEqual([`wrote ${lines.length} events to ${file}`]);
    expect(new Set(lines.map((l) => (JSON.parse(l) as { session: string }).session)).size).toBe(1);
  });
});

describe('doctor', () => {
  it('checks Node, SQLite, the workspace and the database of an initialised workspace', async () => {
    const { ctx } = await initialised();
    const r = await ctx.run(doctorCommand, ['--json']);
    const report = r.json as { ok: boolean; checks: { name: string; ok: boolean }[] };
    const names = report.checks.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['node', 'sqlite', 'workspace', 'models', 'judge', 'database']));
    for (const name of ['node', 'sqlite', 'workspace', 'database'])
      expect(report.checks.find((c) => c.name === name)?.ok).toBe(true);
    expect(r.exitCode).toBe(report.ok ? EXIT.ok : EXIT.failed);
  });

  it('says what to do in a folder that is not a workspace', async () => {
    const r = await context(emptyDir()).run(doctorCommand, []);
    expect(r.exitCode).toBe(EXIT.failed);
    expect(r.stdout).toMatch(/^✗ workspace {9}.* has no p2tui\.yaml or personas\/ folder$/m);
    expect(r.stdout).toContain('  Run p2tui init here, or pass --workspace <dir>.');
  });
});
