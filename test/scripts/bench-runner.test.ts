import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBench, selectParts, PARTS, type Part } from '../../scripts/bench.ts';
import { tempFolders } from '../helpers/folders.ts';

const tempFolder = tempFolders('p2tui-bench-runner-');

const RUNNER = new URL('../../scripts/bench.ts', import.meta.url).pathname;

/** A part script: prints its lines (a marks line among them when given) and ends with `code`. */
function fixture(dir: string, name: string, body: string): string {
  const file = join(dir, `${name}.mjs`);
  writeFileSync(file, body);
  return file;
}

const marksLine = (part: string, marks: object[]): string =>
  `console.log(${JSON.stringify(`BENCH-MARKS ${JSON.stringify({ part, marks })}`)});`;

describe('npm run bench (scripts/bench.ts)', () => {
  it('reports a missed target as FAIL with the count, a crashed part as CRASHED, and exits 1 only for the crash', async () => {
    const dir = tempFolder();
    const parts: Part[] = [
      {
        name: 'fine',
        node: [
          fixture(
            dir,
            'fine',
            `console.log('fine table ' + process.argv.slice(2).join(' '));\n` +
              marksLine('fine', [
                { target: 'a / ideal', measured: '1.0 s / 1.0 s', ratio: 1.02, limit: 1.1 },
                { target: 'b / 2,000 per s', measured: '1,500 / 2,000', ratio: 0.75, limit: 1, direction: 'at-least' },
              ]),
          ),
        ],
      },
      {
        name: 'broken',
        node: [
          fixture(
            dir,
            'broken',
            `console.log('half a table');\n` +
              marksLine('broken', [{ target: 'c before the crash', measured: '1 / 1', ratio: 1, limit: 1 }]) +
              `\nprocess.exit(3);\n`,
          ),
        ],
      },
      { name: 'silent', node: [fixture(dir, 'silent', `console.log('a table and no marks');\n`)] },
      {
        name: 'figures',
        node: [fixture(dir, 'figures', `console.log('figures only');\n`)],
        noMarks: 'no target in the issue',
      },
    ];
    let out = '';
    const code = await runBench(parts, ['--quick'], (text) => (out += text));
    expect(code).toBe(1);
    // Each part's output is streamed, with the flags passed on; the marks line itself is read, not shown.
    expect(out).toContain('fine table --quick');
    expect(out).toContain('half a table');
    expect(out).not.toContain('BENCH-MARKS {');
    const summary = out.slice(out.indexOf('== Summary'));
    expect(summary).toMatch(/pass {2}a \/ ideal: 1\.02× \(1\.0 s \/ 1\.0 s; target ≤ 1\.1×\)/);
    expect(summary).toMatch(/FAIL {2}b \/ 2,000 per s: 0\.75× \(1,500 \/ 2,000; target ≥ 1×\)/);
    expect(summary).toMatch(/broken +CRASHED: exit code 3/);
    expect(summary).toMatch(/silent +CRASHED: ended without its BENCH-MARKS line/);
    expect(summary).toMatch(/figures +no targets: no target in the issue/);
    // A part that crashed after some marks: crashed, and the marks it took are still listed and counted.
    expect(summary).toMatch(/broken +CRASHED: exit code 3 \(\d+\.\d s\)\n +pass {2}c before the crash: 1\.00×/);
    expect(summary).toMatch(/3 targets: 2 pass, 1 FAIL; 2 parts CRASHED/);
  });

  it('exits 0 when every part ran, even with a missed target', async () => {
    const dir = tempFolder();
    const part: Part = {
      name: 'slow',
      node: [fixture(dir, 'slow', marksLine('slow', [{ target: 'x', measured: '3 / 1', ratio: 3, limit: 1.1 }]))],
    };
    let out = '';
    expect(await runBench([part], [], (text) => (out += text))).toBe(0);
    expect(out).toMatch(/1 target: 0 pass, 1 FAIL — 1 part in/);
  });

  it('a part killed by a signal is a crash', async () => {
    const dir = tempFolder();
    const part: Part = { name: 'killed', node: [fixture(dir, 'killed', `process.kill(process.pid, 'SIGKILL');\n`)] };
    let out = '';
    expect(await runBench([part], [], (text) => (out += text))).toBe(1);
    expect(out).toMatch(/killed +CRASHED: killed by SIGKILL/);
  });

  it('--only picks parts in the runner order and refuses a name that is no part (exit code 2)', () => {
    const picked = selectParts(['--quick', '--only=start,judge']);
    expect(typeof picked === 'string' ? picked : picked.map((p) => p.name)).toEqual(['judge', 'start']);
    expect(PARTS.map((p) => p.name)).toEqual([
      'engine',
      'branches',
      'judge',
      'ledger',
      'rollout',
      'rollout-queue',
      'tui',
      'start',
    ]);
    const r = spawnSync(process.execPath, [RUNNER, '--only=nope'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--only: no part named nope; the parts: engine, branches, judge');
  });
});
