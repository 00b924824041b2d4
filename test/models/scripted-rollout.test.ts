import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { childEnv } from '../helpers/child-env.ts';

/**
 * A P2Engine-style spec run offline on the demo workspace (issue 19, point 2): variants that differ by temperature
 * or by system prompt (`behavior_template`) give results that differ for reasons a reader sees in the answers.
 */
const ROOT = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'p2tui-sim-rollout-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SPEC = `teams:
  desk:
    initial_message: "What's the weather in Paris, then who leads the Premier League?"
    base:
      agent_id: agent_alpha
    variants:
      - { temperature: 0 }
      - { temperature: 1.6 }
      - { temperature: 0, behavior_template: "You are {{id}}. Answer in one sentence." }
      - { temperature: 0, behavior_template: "You are {{id}}. Answer formally." }
    eval:
      evaluator_id: gpt4_judge
      metric: score
      rubric: The answer is brief and to the point.
repeats: 4
`;

interface Out {
  cells: { variant: string; seed: number; status: string; metrics: { answer: string } }[];
  variants: { variant: string; metrics: Record<string, { mean: number }> }[];
}

describe('an offline P2Engine-style rollout', () => {
  it('differs by variant for reasons the answers show', () => {
    writeFileSync(join(dir, 'desk.yaml'), SPEC);
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, 'src/cli/main.ts'),
        'rollout',
        'run',
        join(dir, 'desk.yaml'),
        '--json',
        '--db',
        join(dir, 'p2tui.db'),
      ],
      { cwd: ROOT, encoding: 'utf8', env: childEnv() },
    );
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as Out;
    expect(out.cells.every((c) => c.status === 'done')).toBe(true);
    const answers = (v: string): string[] => out.cells.filter((c) => c.variant === v).map((c) => c.metrics.answer);
    const weather = 'Paris: 22 °C, partly cloudy';
    const league = 'Manchester City leads the Premier League';
    // Cold: every seed the same answer, both clauses answered.
    const cold = answers('v1');
    expect(new Set(cold).size).toBe(1);
    expect(cold[0]).toContain(weather);
    expect(cold[0]).toContain(league);
    // Hot: some seeds skip a step, and the answer says which clause it did not get to (or that it answers loosely).
    const hot = answers('v2');
    const differing = hot.filter((a) => a !== cold[0]);
    expect(differing.length).toBeGreaterThan(0);
    for (const a of differing) expect(a).toMatch(/I did not get to "|^Roughly:/m);
    // One sentence: one line, both findings.
    for (const a of answers('v3')) {
      expect(a).not.toContain('\n');
      expect(a).toContain(weather);
      expect(a).toContain(league);
    }
    // Formal: the same findings, signed.
    for (const a of answers('v4')) expect(a).toBe(`${cold[0]}\nKind regards, agent_alpha.`);
    // The skipped parts cost the hot variant its score; the others answer in full.
    const mean = (v: string): number => out.variants.find((x) => x.variant === v)!.metrics['score']!.mean;
    expect(mean('v2')).toBeLessThan(mean('v1'));
  }, 60_000);
});
