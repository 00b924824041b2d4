import { sha256 } from '../core/hash.ts';
import { canonicalJson } from '../core/json.ts';
import type { EffectsPolicy } from '../engine/effects-policy.ts';
import type { CellRow } from '../store/rollouts.ts';
import type { RolloutSpec, Variant } from './spec.ts';

/** One run of a rollout: a team's variant on one scenario with one seed. Each cell is a session. */
export interface Cell {
  /** Stable from what the cell runs (team, agent, settings, task, seed): the same content is the same cell. */
  readonly id: string;
  readonly team: string;
  readonly variant: string;
  readonly scenario: string;
  readonly repeat: number;
  readonly seed: number;
  readonly agent: string;
  readonly message: string;
  readonly personas: Variant['personas'];
  /** What its effectful calls do (the spec's `effects:`); undefined: the workspace's policy. */
  readonly effects: EffectsPolicy | undefined;
}

/** Every cell of a spec: team × variant × scenario × repeat, in that order. */
export function expandCells(spec: RolloutSpec): Cell[] {
  const cells: Cell[] = [];
  for (const team of spec.teams) {
    for (const variant of team.variants) {
      for (const scenario of team.scenarios) {
        // A variant's own initial_message replaces the team's (P2Engine); scenarios replace both.
        const message =
          scenario.message !== '' ? scenario.message : (variant.initialMessage ?? team.initialMessage ?? '');
        spec.seeds.forEach((seed, repeat) => {
          const content = {
            team: team.id,
            variant: variant.id,
            scenario: scenario.id,
            agent: variant.agent,
            personas: variant.personas,
            message,
            seed,
            // Only when the spec sets one: the cells of specs written before `effects:` keep their ids.
            ...(variant.effects === undefined ? {} : { effects: variant.effects }),
          };
          cells.push({
            id: `c_${sha256(canonicalJson(content)).slice(0, 12)}`,
            team: team.id,
            variant: variant.id,
            scenario: scenario.id,
            repeat,
            seed,
            agent: variant.agent,
            message,
            personas: variant.personas,
            effects: variant.effects,
          });
        });
      }
    }
  }
  return cells;
}

/**
 * Where a run of a rollout's stored cells starts: the cells to run (expanded from the spec, in order), how many
 * there are and are done, and what the done ones spent. Apart from the run's closures, so neither the rows nor the
 * spec's expansion stay in memory while it runs.
 */
export function startingPoint(
  rows: readonly CellRow[],
  spec: RolloutSpec,
): { remaining: (Cell | undefined)[]; total: number; done: number; costUsd: number; tokens: number } {
  const byId = new Map(expandCells(spec).map((c) => [c.id, c]));
  return {
    remaining: rows
      .filter((c) => c.status !== 'done')
      .map((c) => byId.get(c.id))
      .filter((c): c is Cell => c !== undefined),
    total: rows.length,
    done: rows.filter((c) => c.status === 'done').length,
    costUsd: rows.reduce((a, c) => a + (c.metrics?.costUsd ?? 0), 0),
    tokens: rows.reduce((a, c) => a + (c.metrics?.tokens ?? 0), 0),
  };
}
