import type { JsonValue } from '../../core/json.ts';
import { terminalText } from '../../core/terminal-text.ts';
import type { RolloutSpec } from '../../rollout/spec.ts';
import { paint, plural } from '../render/text.ts';
import type { CommandContext } from '../types.ts';

/** The spec expanded into teams and variants, as `rollout validate` and `rollout start --show-config` list it. */
export function printExpanded(ctx: CommandContext, spec: RolloutSpec): void {
  for (const t of spec.teams) {
    const variants = plural(t.variants.length, 'variant');
    const scenarios = plural(t.scenarios.length, 'scenario');
    const repeats = plural(spec.seeds.length, 'repeat');
    ctx.output.line(`  team ${t.id}: ${variants} × ${scenarios} × ${repeats} (baseline ${t.baseline})`);
    for (const v of t.variants) {
      const settings = Object.entries({ ...v.settings, ...(v.effects === undefined ? {} : { effects: v.effects }) })
        .filter(([k]) => k !== 'agent_id')
        // One line per variant: a multi-line initial_message (a YAML `|` block) is shown with its lines joined.
        .map(([k, val]) => `${k}=${terminalText(typeof val === 'string' ? oneLine(val) : JSON.stringify(val))}`);
      ctx.output.line(paint(ctx.output.color, 'gray', `    ${v.id}: ${[v.agent, ...settings].join(' ')}`));
    }
  }
}

/** Text on one line: its line breaks (and the spaces around them) become one space. */
function oneLine(text: string): string {
  return text.trim().replace(/\s*\r?\n\s*/g, ' ');
}

export function expandedJson(spec: RolloutSpec): { name: string; hash: string; teams: JsonValue } {
  return {
    name: spec.name,
    hash: spec.hash,
    teams: spec.teams.map((t) => ({
      id: t.id,
      variants: t.variants.map((v) => ({
        id: v.id,
        agent: v.agent,
        settings: v.settings as JsonValue,
        effects: v.effects ?? null,
      })),
      scenarios: t.scenarios.length,
      baseline: t.baseline,
    })),
  };
}
