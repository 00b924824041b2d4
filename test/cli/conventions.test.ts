import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/commands/registry.ts';
import { GROUP_SUMMARIES } from '../../src/commands/groups.ts';
import { VERSION } from '../../src/core/version.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { weatherWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/** CLI conventions as git, gh and kubectl keep them: help and version, unknown words, numbers as values. */

let ws: TempWorkspace;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

beforeAll(async () => {
  ws = weatherWorkspace('teams: {}\n');
  expect((await p2tui('run', 'forecaster', 'hello')).code).toBe(0);
}, 30_000);
afterAll(() => ws.cleanup());

/** Runs the command lines two at a time (real processes on a shared machine). */
async function all(lines: readonly (readonly string[])[]): Promise<CliResult[]> {
  const out: CliResult[] = [];
  for (let i = 0; i < lines.length; i += 2)
    out.push(...(await Promise.all(lines.slice(i, i + 2).map((l) => p2tui(...l)))));
  return out;
}

describe('help and version', () => {
  it('p2tui help [command], p2tui version and --version anywhere; an unknown subcommand is named, with a suggestion', async () => {
    const [help, group, command, version, anywhere, json, lst, helpLst] = await all([
      ['help'],
      ['help', 'session'],
      ['help', 'session', 'list'],
      ['version'],
      ['session', 'list', '--version'],
      ['version', '--json'],
      ['session', 'lst'],
      ['help', 'session', 'lst'],
    ]);
    expect(help!.code).toBe(0);
    expect(help!.stdout).toContain('Usage:');
    expect(group!.stdout).toContain('Usage: p2tui session <command> [options]');
    expect(command!.stdout).toContain('Usage: p2tui session list [options]');
    expect([version!.code, version!.stdout]).toEqual([0, `${VERSION}\n`]);
    expect([anywhere!.code, anywhere!.stdout]).toEqual([0, `${VERSION}\n`]);
    expect(JSON.parse(json!.stdout)).toEqual({ version: VERSION });
    for (const r of [lst!, helpLst!]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("error E_USAGE: unknown command 'lst' of p2tui session");
      expect(r.stderr).toContain("hint: Did you mean 'p2tui session list'? See p2tui session --help.");
    }
  }, 30_000);

  it('the main help: the TUI, every group of the registry with its summary, descriptions in one column', async () => {
    const help = await p2tui('--help');
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^ {2}p2tui +open the full-screen TUI/m);
    const singles = new Set(COMMANDS.filter((c) => c.path.length === 1).map((c) => c.path[0]!));
    // A command with longer forms (`chat`, `chat with`) is a command's row; the other first words are groups.
    const groups = [...new Set(COMMANDS.filter((c) => c.path.length > 1).map((c) => c.path[0]!))].filter(
      (g) => !singles.has(g),
    );
    const lines = help.stdout.split('\n');
    const rows = lines.filter((l) => /^ {2}[a-z]/.test(l) && !l.startsWith('  p2tui'));
    // Every row's description starts in the same column (a name never pushes it out).
    const column = rows[0]!.search(/ {2}[A-Z]/);
    for (const row of rows) expect(row.search(/ {2}[A-Z]/), row).toBe(column);
    for (const g of groups) {
      expect(GROUP_SUMMARIES[g], `groups.ts has no summary for ${g}`).toBeTruthy();
      const row = rows.find((r) => r.startsWith(`  ${g} `));
      expect(row, g).toBeDefined();
      expect(row).toContain(GROUP_SUMMARIES[g]!.slice(0, 20));
    }
    for (const single of COMMANDS.filter((c) => c.path.length === 1))
      expect(rows.some((r) => r.startsWith(`  ${single.path[0]}`))).toBe(true);
  });
});

describe('numbers and names as values', () => {
  it('refuses negative, fractional and exponent counts, and a simulator model that does not exist, with exit 2', async () => {
    const [negative, exponent, fraction, tailFraction, model, near] = await all([
      ['run', 'forecaster', 'hi', '--max-steps', '-5'],
      ['run', 'forecaster', 'hi', '--seed', '1e30'],
      ['run', 'forecaster', 'hi', '--seed', '1.5'],
      ['events', 'tail', '-n', '1.5'],
      ['run', 'forecaster', 'hi', '--model', 'scripted/nonexist'],
      ['run', 'forecaster', 'hi', '--model', 'scripted/slwo'],
    ]);
    for (const r of [negative!, exponent!, fraction!, tailFraction!, model!, near!]) {
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('error E_USAGE:');
      expect(r.stderr).not.toContain('XYZ');
    }
    expect(negative!.stderr).toContain('--max-steps must be at least 1, got -5');
    expect(exponent!.stderr).toContain("--seed must be a whole number, got '1e30'");
    expect(fraction!.stderr).toContain("--seed must be a whole number, got '1.5'");
    expect(tailFraction!.stderr).toContain("--limit must be a whole number, got '1.5'");
    expect(model!.stderr).toContain("--model: the simulator has no model 'nonexist'");
    expect(near!.stderr).toContain('Did you mean scripted/slow?');
  }, 30_000);

  it('events tail -n 0 prints no event (as tail -n 0 does); -n 1 prints one', async () => {
    const [none, one] = await all([
      ['events', 'tail', '-n', '0', '--json'],
      ['events', 'tail', '-n', '1', '--json'],
    ]);
    expect([none!.code, none!.stdout]).toEqual([0, '']);
    expect(one!.code).toBe(0);
    expect(one!.stdout.trim().split('\n')).toHaveLength(1);
  }, 20_000);
});
