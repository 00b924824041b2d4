import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO_ENTRIES } from '../../../src/commands/workspace/demo.ts';
import { runCli } from '../../helpers/cli.ts';
import { filesUnder, tempFolders } from '../../helpers/folders.ts';

const ROOT = new URL('../../..', import.meta.url).pathname;

const tempFolder = tempFolders('p2tui-demo-');

describe('p2tui demo', () => {
  it('copies the demo workspace into ./p2tui-demo and says what to run; the copy validates and passes doctor', async () => {
    const cwd = tempFolder();
    const result = await runCli(['demo'], { cwd });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const dir = join(cwd, 'p2tui-demo');
    expect(result.stdout).toContain(`Copied the demo workspace into ${dir}: p2tui.yaml personas/ tools/ rubrics/`);
    expect(result.stdout).toMatch(/^ {2}cd p2tui-demo && \S.*p2tui(\.js)? +\(the TUI/m);
    expect(result.stdout).toMatch(/^ {2}cd p2tui-demo && .* rollout run rollouts\/demo_rollout\.yaml$/m);
    const shipped = DEMO_ENTRIES.flatMap((entry) =>
      entry.includes('.') ? [entry] : filesUnder(join(ROOT, entry)).map((f) => `${entry}/${f}`),
    ).sort();
    expect(filesUnder(dir)).toEqual(shipped);
    expect(readFileSync(join(dir, 'tools/weather.ts'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'tools/weather.ts'), 'utf8'),
    );

    const validate = await runCli(['rollout', 'validate', 'rollouts/demo_rollout.yaml'], { cwd: dir });
    expect(validate.stdout).toMatch(/rollouts\/demo_rollout\.yaml: valid · 2 cells/);
    expect(validate.code).toBe(0);
    const doctor = await runCli(['doctor'], { cwd: dir });
    expect(doctor.stdout).toMatch(/✓ workspace .*4 personas, 6 tools/);
    expect(doctor.stdout).toMatch(/✓ judge .*grounded: custom.*1 score policies/);
    expect(doctor.code).toBe(0);
  });

  it('refuses a folder that is not empty (E_WORKSPACE, exit 3) and copies nothing; --force copies into it', async () => {
    const cwd = tempFolder();
    const dir = join(cwd, 'mine');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'my notes\n');
    const refused = await runCli(['demo', 'mine'], { cwd });
    expect(refused.stderr).toContain(`error E_WORKSPACE: demo: ${dir} is not empty; nothing was copied`);
    expect(refused.stderr).toContain('--force');
    expect(refused.stdout).toBe('');
    expect(refused.code).toBe(3);
    expect(readdirSync(dir)).toEqual(['notes.txt']);

    const forced = await runCli(['demo', 'mine', '--force'], { cwd });
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/^ {2}cd mine && /m);
    expect(existsSync(join(dir, 'personas/agent_alpha.yaml'))).toBe(true);
    expect(readFileSync(join(dir, 'notes.txt'), 'utf8')).toBe('my notes\n');
  });

  it('the package carries the demo workspace and an MIT LICENSE', () => {
    const [pack] = JSON.parse(
      execFileSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT, encoding: 'utf8' }),
    ) as { files: { path: string }[] }[];
    const packed = new Set(pack!.files.map((f) => f.path));
    for (const entry of DEMO_ENTRIES) {
      const files = entry.includes('.') ? [entry] : filesUnder(join(ROOT, entry)).map((f) => `${entry}/${f}`);
      for (const file of files) expect(packed, file).toContain(file);
    }
    expect(packed).toContain('LICENSE');
    expect(readFileSync(join(ROOT, 'LICENSE'), 'utf8')).toMatch(
      /^MIT License\n\nCopyright \(c\) 2026 the p2tui authors\n/,
    );
    expect(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).license).toBe('MIT');
  });
});
