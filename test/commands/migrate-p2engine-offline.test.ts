import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';

/*
 * Issue 20's "done when": a checkout shaped like P2Engine's (test/fixtures/p2engine-checkout: its six agents, rollouts
 * with list and dict variants, per-variant agents and messages, a multi-line message, library rubric ids, a .jinja
 * rubric) migrates, and every migrated rollout validates and runs offline on the scripted simulator and judge.
 */

const FIXTURE = join(new URL('../..', import.meta.url).pathname, 'test/fixtures/p2engine-checkout');
const ROLLOUTS = [
  'demo_rollout.yml',
  'rollout_competitive_payment.yml',
  'rollout_hierarchical_distribution.yml',
  'rollout_joke.yml',
  'rollout_task_with_payment.yml',
];

let out: string | undefined;
afterEach(() => {
  if (out !== undefined) rmSync(out, { recursive: true, force: true });
});

describe('a migrated P2Engine checkout', () => {
  // The "done when": the migrated rollouts validate and run offline, every judged team scored.
  it('every migrated rollout validates and runs offline on --model scripted/default, exit 0, with scores', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'p2tui-migrate-offline-'));
    out = dir;
    expect((await runCli(['migrate', 'p2engine', FIXTURE, '--out', dir])).code).toBe(0);
    // Nothing may reach a real provider: OpenAI's URL is a closed port, with a key so no "missing key" stops it first.
    const env = { OPENAI_BASE_URL: 'http://127.0.0.1:9/v1', OPENAI_API_KEY: 'sk-offline' };
    for (const file of ROLLOUTS) {
      const validated = await runCli(['rollout', 'validate', `rollouts/${file}`], { cwd: dir, env });
      expect({ file, code: validated.code, stderr: validated.stderr }).toMatchObject({ file, code: 0 });
      expect(validated.stdout).toContain(`rollouts/${file}: valid`);
      const run = await runCli(['rollout', 'run', `rollouts/${file}`, '--model', 'scripted/default', '--json'], {
        cwd: dir,
        env,
      });
      expect({ file, code: run.code, stderr: run.stderr }).toMatchObject({ file, code: 0 });
      const summary = JSON.parse(run.stdout) as {
        status: string;
        variants: {
          team: string;
          variant: string;
          cells: number;
          failed: number;
          metrics: Record<string, { n: number; mean: number | null }>;
        }[];
      };
      expect(summary.status).toBe('finished');
      const spec = readFileSync(join(dir, 'rollouts', file), 'utf8');
      for (const variant of summary.variants) {
        expect({ file, variant: variant.variant, failed: variant.failed }).toEqual({
          file,
          variant: variant.variant,
          failed: 0,
        });
        // A team with an eval: is scored; P2Engine's reward_distributor has none (it scored 0.000 there).
        if (variant.team === 'reward_distributor') continue;
        expect(spec).toContain(`${variant.team}:`);
        expect({ file, team: variant.team, variant: variant.variant, n: variant.metrics['score']?.n }).toEqual({
          file,
          team: variant.team,
          variant: variant.variant,
          n: variant.cells,
        });
        expect(typeof variant.metrics['score']?.mean).toBe('number');
      }
    }
  }, 120_000);
});
