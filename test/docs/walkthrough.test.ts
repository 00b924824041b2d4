import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv } from '../helpers/child-env.ts';

/**
 * The README's "Your own workspace in five minutes", followed as written: its commands run one after another in a new
 * folder and its files are written where their first line says, with a PATH that holds only npm's link folder and
 * Node (so `p2tui` is the linked command, not `node bin/p2tui.js`). The last command (the TUI) is left out.
 */
const ROOT = join(import.meta.dirname, '../..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const SECTION = README.slice(README.indexOf('## Your own workspace in five minutes'), README.indexOf('\n## Status\n'));
const home = mkdtempSync(join(tmpdir(), 'p2tui-walkthrough-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));

/** npm itself, found on this process's PATH (it need not live next to Node). */
const NPM = spawnSync('/bin/sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();

type Step = { kind: 'run'; command: string } | { kind: 'file'; path: string; text: string };

/** The section's steps in order: `$ ` lines of console blocks, and files of blocks whose first line names them. */
function steps(): Step[] {
  const out: Step[] = [];
  for (const [, lang, body] of SECTION.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    if (lang === 'console') {
      for (const line of body!.split('\n'))
        if (line.startsWith('$ ')) out.push({ kind: 'run', command: line.slice(2) });
      continue;
    }
    const named = /^(?:#|\/\/) (\S+)\n/.exec(body!);
    if (named !== null) out.push({ kind: 'file', path: named[1]!, text: body!.slice(named[0].length) });
  }
  return out;
}

describe('the README walkthrough', () => {
  it('works as written from a clone, with p2tui on PATH through npm link', () => {
    const all = steps();
    expect(all.map((s) => (s.kind === 'run' ? s.command : s.path))).toEqual([
      'npm link',
      'p2tui init research-desk',
      'cd research-desk',
      'tools/headline.ts',
      'personas/writer.yaml',
      'p2tui run writer "Write a headline for: sales rose in Oslo"',
      'rubrics/headline.yaml',
      'rollouts/headlines.yaml',
      'p2tui rollout run rollouts/headlines.yaml',
      'p2tui rollout list',
      'p2tui',
    ]);
    const prefix = join(home, 'npm-global');
    const env = childEnv({
      // Only npm's link folder and Node's own folder (for `#!/usr/bin/env node`).
      PATH: [join(prefix, 'bin'), dirname(process.execPath)].join(':'),
      npm_config_prefix: prefix,
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      NO_COLOR: '1',
    });
    const work = join(home, 'work');
    mkdirSync(work);
    let cwd = work;
    const outputs: string[] = [];
    for (const step of all.slice(0, -1)) {
      if (step.kind === 'file') {
        writeFileSync(join(cwd, step.path), step.text);
        continue;
      }
      if (step.command.startsWith('cd ')) {
        cwd = join(cwd, step.command.slice(3));
        continue;
      }
      // `npm link` runs in the clone (the quick start's folder). Its build script is skipped here: `npm test` has
      // just built dist/, and building again would rewrite it under the other tests that run it.
      const inClone = step.command === 'npm link';
      const r = spawnSync('/bin/sh', ['-c', inClone ? `${NPM} link --ignore-scripts` : step.command], {
        cwd: inClone ? ROOT : cwd,
        env,
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect({ command: step.command, code: r.status, stderr: r.stderr }).toMatchObject({
        command: step.command,
        code: 0,
      });
      outputs.push(r.stdout);
    }
    const [, init, run, rollout, list] = outputs;
    expect(init).toContain('  cd research-desk && p2tui run assistant');
    expect(run).toMatch(/Sales Rose In Oslo/);
    expect(run).toMatch(/✓ finished/);
    expect(rollout).toMatch(/12\/12 cells · 12 done · 0 failed/);
    expect(list).toMatch(/finished/);
  }, 180_000);

  it("init's next step works as printed when p2tui is not on PATH", () => {
    const env = childEnv({ PATH: dirname(process.execPath), NO_COLOR: '1' });
    const dir = join(home, 'plain');
    mkdirSync(dir);
    const init = spawnSync(process.execPath, [join(ROOT, 'bin/p2tui.js'), 'init', 'my team'], {
      cwd: dir,
      env,
      encoding: 'utf8',
    });
    expect(init.status).toBe(0);
    expect(init.stdout).toContain(`run \`npm link\` in ${ROOT} once to type just \`p2tui\``);
    const next = /^ {2}(cd .+ run assistant .+)$/m.exec(init.stdout)?.[1];
    expect(next).toBe(
      `cd 'my team' && node ${join(ROOT, 'bin/p2tui.js')} run assistant "Count the words of: the quick brown fox"`,
    );
    const r = spawnSync('/bin/sh', ['-c', next!], { cwd: dir, env, encoding: 'utf8', timeout: 60_000 });
    expect({ code: r.status, stderr: r.stderr }).toMatchObject({ code: 0 });
    expect(r.stdout).toMatch(/✓ finished/);
  }, 60_000);
});
