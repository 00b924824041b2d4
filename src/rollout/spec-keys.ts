import { suggest, type ValidationIssue } from '../core/errors.ts';
import type { Criterion } from '../judge/rubric.ts';
import { mapLiteLlmModel, type LiteLlmModel } from '../models/litellm-ids.ts';

/**
 * How a rollout spec's variant keys are read, as P2Engine's users wrote them. Keys P2Engine read are honoured; keys it
 * accepted and ignored are applied when they mean something to a model (`max_tokens`), else accepted with a warning
 * that says so; any other key is an error with a suggestion. Also: `behavior_template` names resolved from
 * `templates/`, and the weights of a rubric written inline.
 */

/** What P2Engine read of a merged variant (`run_variant` and `LLMAgent.run`'s per-agent override). */
export const P2ENGINE_KEYS = [
  'agent_id',
  'initial_message',
  'model',
  'temperature',
  'top_p',
  'tools',
  'behavior_template',
] as const;

/** p2tui's own keys: the variant's id (P2Engine numbered variants), a literal system prompt, other agents, effects. */
export const P2TUI_KEYS = ['id', 'system', 'personas', 'effects'] as const;

/** Keys P2Engine accepted and ignored that p2tui applies, because a model takes them. */
export const APPLIED_KEYS = ['max_tokens'] as const;

/** Keys P2Engine accepted and ignored that nothing in p2tui does either: accepted with this warning. */
export const IGNORED_KEYS: Readonly<Record<string, string>> = {
  reasoning_policy:
    'P2Engine accepted it and never read it (no reasoning policy existed); p2tui does not apply it either',
  render_policy: 'P2Engine accepted it and never read it; p2tui does not apply it either',
  enable_self_reflection: 'P2Engine read it from agent configs, never from a rollout variant; p2tui does not apply it',
  reflection_agent_id: 'P2Engine read it from agent configs, never from a rollout variant; p2tui does not apply it',
  lock: 'P2Engine stored it with the override and never enforced it; p2tui does not apply it either',
};

export const KNOWN_VARIANT_KEYS: readonly string[] = [...P2ENGINE_KEYS, ...P2TUI_KEYS, ...APPLIED_KEYS];

export type KeyVerdict =
  | { readonly kind: 'known' }
  | { readonly kind: 'applied'; readonly note: string }
  | { readonly kind: 'ignored'; readonly note: string }
  | { readonly kind: 'unknown'; readonly message: string };

/** What a variant key is under the policy above. */
export function classifyVariantKey(key: string): KeyVerdict {
  if ((APPLIED_KEYS as readonly string[]).includes(key))
    return { kind: 'applied', note: `${key}: P2Engine ignored this key; p2tui applies it (sent to the model)` };
  if (KNOWN_VARIANT_KEYS.includes(key)) return { kind: 'known' };
  const ignored = IGNORED_KEYS[key];
  if (ignored !== undefined) return { kind: 'ignored', note: `${key} is accepted but not applied: ${ignored}` };
  const all = [...KNOWN_VARIANT_KEYS, ...Object.keys(IGNORED_KEYS)];
  const near = suggest(key, all);
  return {
    kind: 'unknown',
    message:
      `unknown key '${key}'${near === undefined ? '' : ` (did you mean ${near}?)`}; ` +
      `a variant takes ${KNOWN_VARIANT_KEYS.join(', ')}`,
  };
}

/** A model a merged variant names, where in the variant (`['model']`, `['personas', agent, 'model']`), and its mapping. */
export interface VariantModel {
  readonly path: readonly string[];
  readonly id: string;
  readonly mapped: LiteLlmModel;
}

/**
 * The models of a merged variant (its `model` and each `personas.<agent>.model`) read as P2Engine wrote them, LiteLLM
 * ids (`gpt-3.5-turbo`, `ollama_chat/llama3`): the variant with each id a p2tui model spells otherwise replaced, and
 * every id that is not p2tui's spelling as it is (`mapped` says what it became, or why it cannot run). `declared`:
 * the providers of p2tui.yaml (an `anthropic` declared there makes `anthropic/…` run unchanged).
 */
export function mapVariantModels(
  merged: Record<string, unknown>,
  declared: readonly string[],
): { readonly variant: Record<string, unknown>; readonly models: readonly VariantModel[] } {
  const models: VariantModel[] = [];
  const map = (value: unknown, path: string[]): unknown => {
    if (typeof value !== 'string') return value;
    const mapped = mapLiteLlmModel(value, declared);
    if (mapped.kind === 'same') return value;
    models.push({ path, id: value, mapped });
    return mapped.kind === 'mapped' ? mapped.ref : value;
  };
  const variant: Record<string, unknown> = { ...merged };
  if ('model' in merged) variant['model'] = map(merged['model'], ['model']);
  const personas = merged['personas'];
  if (personas !== null && typeof personas === 'object' && !Array.isArray(personas)) {
    variant['personas'] = Object.fromEntries(
      Object.entries(personas as Record<string, unknown>).map(([agent, o]) => [
        agent,
        o !== null && typeof o === 'object' && !Array.isArray(o) && 'model' in o
          ? { ...o, model: map((o as Record<string, unknown>)['model'], ['personas', agent, 'model']) }
          : o,
      ]),
    );
  }
  return { variant, models };
}

/** A rubric written inline: its criteria with weights, or undefined when it gives none ("(0.5)" after a criterion). */
export type InlineRubric =
  | { readonly description: string; readonly criteria: readonly Criterion[]; readonly total: number }
  | { readonly error: string };

// A weight ends its criterion: the line, a separator or a description (`: …`) follows it; "the count (9) right"
// is prose that happens to hold a number.
const WEIGHT = /\(\s*(-?\d*\.?\d+(?:\.\d+)*\s*%?)\s*\)(?=\s*(?:$|[,;:—–-]))/m;

/**
 * Reads P2Engine-style weights in an inline rubric: `accuracy (0.5), clarity (0.3)`, or one criterion a line
 * (`- Paris weather is right (0.2): with the temperature`). Lines without a weight are the rubric's description.
 */
export function parseInlineRubric(text: string): InlineRubric | undefined {
  if (!WEIGHT.test(text)) return undefined;
  const items = text
    .split(/\r?\n/)
    // Several criteria on one line are separated by commas or semicolons after a weight.
    .flatMap((line) => line.split(/(?<=\))\s*[,;]\s*(?:and\s+)?/))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const description: string[] = [];
  const criteria: Criterion[] = [];
  const ids = new Set<string>();
  for (const item of items) {
    const m = WEIGHT.exec(item);
    if (m === null) {
      if (/^([-*•]|\d+[.)])\s/.test(item))
        return { error: `criterion '${item}' has no weight: write it as '${item} (0.2)'` };
      description.push(item);
      continue;
    }
    const raw = m[1]!.replace(/\s+/g, '');
    const weight = raw.endsWith('%') ? Number(raw.slice(0, -1)) / 100 : Number(raw);
    const name = item
      .slice(0, m.index)
      .replace(/^([-*•]|\d+[.)])\s*/, '')
      .trim()
      .replace(/:$/, '');
    const rest = item
      .slice(m.index + m[0].length)
      .replace(/^\s*[:—-]\s*/, '')
      .trim();
    if (name === '') return { error: `weight (${m[1]}) names no criterion: write '<criterion> (${m[1]})'` };
    if (!Number.isFinite(weight) || weight <= 0 || weight > 1)
      return {
        error: `criterion '${name}' has weight ${m[1]}: a weight is a number above 0 and at most 1 (or a percentage)`,
      };
    let id = name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '')
      .slice(0, 48);
    if (!/^[a-z]/.test(id)) id = `c_${id}`;
    for (let n = 2; ids.has(id); n++) id = `${id.replace(/_\d+$/, '')}_${n}`;
    ids.add(id);
    criteria.push({ id, description: rest === '' ? name : `${name}: ${rest}`, weight });
  }
  const total = criteria.reduce((n, c) => n + c.weight, 0);
  return { description: description.join('\n'), criteria, total };
}

/**
 * Adds "did you mean" to the schema's `unknown field 'x'` issues of a spec (teams, eval, budgets, … are strict), with
 * the fields that level takes; `keysAt` gives them for an issue's field path ('' is the top level).
 */
export function suggestFields(
  issues: readonly ValidationIssue[],
  keysAt: (field: string) => readonly string[] | undefined,
): ValidationIssue[] {
  return issues.map((issue) => {
    const m = /^unknown field '([^']+)'$/.exec(issue.message);
    const keys = m === null ? undefined : keysAt(issue.field);
    if (m === null || keys === undefined) return issue;
    const near = suggest(m[1]!, keys);
    return {
      ...issue,
      message: `${issue.message}${near === undefined ? '' : ` (did you mean ${near}?)`}; fields here: ${keys.join(', ')}`,
    };
  });
}
