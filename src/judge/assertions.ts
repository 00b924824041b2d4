import { z } from 'zod';
import type { JsonValue } from '../core/json.ts';
import { canonicalJson } from '../core/json.ts';
import type { CriterionResult } from '../store/scores.ts';
import type { Material } from './material.ts';
import { decimal } from '../ledger/decimal.ts';

/**
 * Deterministic checks of a conversation's work, usable alone or beside a rubric. Each assertion is one key of a
 * list item in p2tui.yaml, e.g. `- contains: total`, `- tool_called: { tool: calculate, args: { a: 2 } }`.
 */
const textOrList = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

export const assertionSchema = z.union([
  z.strictObject({ contains: textOrList, case_sensitive: z.boolean().optional() }),
  z.strictObject({ not_contains: textOrList, case_sensitive: z.boolean().optional() }),
  z.strictObject({
    regex: z.string().min(1).refine(isRegex, 'not a valid regular expression'),
    flags: z
      .string()
      .regex(/^[imsu]*$/)
      .optional(),
  }),
  z.strictObject({ equals: z.string() }),
  z.strictObject({ json_schema: z.record(z.string(), z.unknown()) }),
  z.strictObject({ length: z.strictObject({ min: z.int().min(0).optional(), max: z.int().min(0).optional() }) }),
  z.strictObject({
    tool_called: z.union([
      z.string().min(1),
      z.strictObject({
        tool: z.string().min(1),
        args: z.record(z.string(), z.unknown()).optional(),
        times: z.int().min(1).optional(),
      }),
    ]),
  }),
  z.strictObject({ tool_not_called: z.string().min(1) }),
  z.strictObject({ delegated_to: z.string().min(1) }),
  /** A payment the conversation made on the ledger (a transfer_funds call that went through). */
  z.strictObject({
    transferred: z.strictObject({ to: z.string().min(1), amount: z.union([z.string(), z.number()]).optional() }),
  }),
  z.strictObject({ max_cost_usd: z.number().min(0) }),
  z.strictObject({ max_tokens: z.int().min(0) }),
  z.strictObject({ max_latency_ms: z.int().min(0) }),
  z.strictObject({ max_steps: z.int().min(0) }),
  z.strictObject({ finished: z.boolean() }),
]);

export type Assertion = z.output<typeof assertionSchema>;

function isRegex(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

/** A short name for an assertion, used as its criterion id in a score's breakdown. */
export function assertionName(a: Assertion, index: number): string {
  return `${index + 1}.${Object.keys(a)[0]!}`;
}

/** Runs every assertion; the score is the share that passed (1 when all did). */
export function checkAssertions(
  assertions: readonly Assertion[],
  material: Material,
): { value: number; criteria: CriterionResult[]; reasoning: string } {
  const criteria = assertions.map((a, i): CriterionResult => {
    const { passed, reason } = check(a, material);
    return { id: assertionName(a, i), score: passed ? 1 : 0, reason };
  });
  const passed = criteria.filter((c) => c.score === 1).length;
  const failed = criteria.filter((c) => c.score !== 1);
  return {
    value: criteria.length === 0 ? 1 : passed / criteria.length,
    criteria,
    reasoning:
      failed.length === 0
        ? `all ${criteria.length} assertions passed`
        : `${passed}/${criteria.length} passed; failed: ${failed.map((c) => `${c.id} (${c.reason})`).join('; ')}`,
  };
}

function check(a: Assertion, m: Material): { passed: boolean; reason: string } {
  const answer = m.answer;
  const verdict = (passed: boolean, reason: string): { passed: boolean; reason: string } => ({ passed, reason });
  if ('contains' in a || 'not_contains' in a) {
    const wanted = 'contains' in a ? a.contains : a.not_contains;
    const list = typeof wanted === 'string' ? [wanted] : wanted;
    const hay = a.case_sensitive === true ? answer : answer.toLowerCase();
    const found = list.filter((w) => hay.includes(a.case_sensitive === true ? w : w.toLowerCase()));
    if ('contains' in a) {
      const missing = list.filter((w) => !found.includes(w));
      return verdict(
        missing.length === 0,
        missing.length === 0
          ? `contains ${list.map((w) => `"${w}"`).join(', ')}`
          : `missing ${missing.map((w) => `"${w}"`).join(', ')}`,
      );
    }
    return verdict(
      found.length === 0,
      found.length === 0
        ? `contains none of ${list.map((w) => `"${w}"`).join(', ')}`
        : `contains ${found.map((w) => `"${w}"`).join(', ')}`,
    );
  }
  if ('regex' in a) {
    const match = new RegExp(a.regex, a.flags ?? '').exec(answer);
    return verdict(
      match !== null,
      match !== null ? `matches /${a.regex}/ at "${match[0].slice(0, 40)}"` : `does not match /${a.regex}/`,
    );
  }
  if ('equals' in a)
    return verdict(
      answer.trim() === a.equals.trim(),
      answer.trim() === a.equals.trim() ? 'equal' : `is "${clip(answer)}", expected "${clip(a.equals)}"`,
    );
  if ('json_schema' in a) {
    let value: unknown;
    try {
      value = JSON.parse(answer);
    } catch {
      return verdict(false, 'the answer is not JSON');
    }
    let schema: z.ZodType;
    try {
      schema = z.fromJSONSchema(a.json_schema as Parameters<typeof z.fromJSONSchema>[0]);
    } catch (error) {
      return verdict(false, `the schema cannot be used: ${error instanceof Error ? error.message : String(error)}`);
    }
    const result = schema.safeParse(value);
    return verdict(
      result.success,
      result.success
        ? 'matches the schema'
        : result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    );
  }
  if ('length' in a) {
    const n = answer.length;
    const ok = (a.length.min === undefined || n >= a.length.min) && (a.length.max === undefined || n <= a.length.max);
    return verdict(ok, `${n} characters (bounds ${a.length.min ?? 0}…${a.length.max ?? '∞'})`);
  }
  if ('tool_called' in a) {
    const spec = typeof a.tool_called === 'string' ? { tool: a.tool_called } : a.tool_called;
    const calls = m.toolCalls.filter(
      (c) => c.tool === spec.tool && (spec.args === undefined || argsMatch(spec.args, c.args)),
    );
    const times = 'times' in spec && spec.times !== undefined ? spec.times : undefined;
    const ok = times === undefined ? calls.length > 0 : calls.length === times;
    const withArgs = spec.args === undefined ? '' : ` with ${canonicalJson(spec.args as JsonValue)}`;
    return verdict(
      ok,
      `${spec.tool}${withArgs} called ${calls.length} time${calls.length === 1 ? '' : 's'}${times === undefined ? '' : ` (expected ${times})`}`,
    );
  }
  if ('tool_not_called' in a) {
    const n = m.toolCalls.filter((c) => c.tool === a.tool_not_called).length;
    return verdict(n === 0, `${a.tool_not_called} called ${n} time${n === 1 ? '' : 's'}`);
  }
  if ('transferred' in a) {
    const want = a.transferred;
    const paid = m.toolCalls
      .filter((c) => c.tool === 'transfer_funds' && c.status === 'ok')
      .map((c) => c.args as { to?: string; amount?: string | number });
    const match = paid.find(
      (p) =>
        p.to === want.to &&
        (want.amount === undefined ||
          (p.amount !== undefined && decimal.cmp(decimal.canonical(p.amount), decimal.canonical(want.amount)) === 0)),
    );
    const what = `${want.amount === undefined ? 'a payment' : decimal.canonical(want.amount)} to ${want.to}`;
    return verdict(
      match !== undefined,
      match !== undefined
        ? `paid ${what}`
        : paid.length === 0
          ? `no payment made (wanted ${what})`
          : `paid ${paid.map((p) => `${String(p.amount)} to ${p.to}`).join(', ')}, not ${what}`,
    );
  }
  if ('delegated_to' in a)
    return verdict(
      m.delegations.includes(a.delegated_to),
      m.delegations.length === 0 ? 'no delegation' : `delegated to ${m.delegations.join(', ')}`,
    );
  if ('max_cost_usd' in a)
    return verdict(m.usage.costUsd <= a.max_cost_usd, `cost $${m.usage.costUsd.toFixed(6)} (limit $${a.max_cost_usd})`);
  if ('max_tokens' in a) {
    const tokens = m.usage.tokensIn + m.usage.tokensOut;
    return verdict(tokens <= a.max_tokens, `${tokens} tokens (limit ${a.max_tokens})`);
  }
  if ('max_latency_ms' in a)
    return verdict(
      m.usage.latencyMs <= a.max_latency_ms,
      `${m.usage.latencyMs} ms in model calls (limit ${a.max_latency_ms})`,
    );
  if ('max_steps' in a)
    return verdict(m.usage.modelCalls <= a.max_steps, `${m.usage.modelCalls} model calls (limit ${a.max_steps})`);
  return verdict(m.finished === a.finished, m.finished ? 'finished' : 'did not finish');
}

/** Every expected key matches: equal values, or a string matching a `/regex/`. */
function argsMatch(expected: Readonly<Record<string, unknown>>, actual: JsonValue): boolean {
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return false;
  return Object.entries(expected).every(([k, want]) => {
    const got = (actual as Record<string, JsonValue>)[k];
    if (typeof want === 'string' && /^\/.*\/[imsu]*$/.test(want) && typeof got === 'string') {
      const end = want.lastIndexOf('/');
      return new RegExp(want.slice(1, end), want.slice(end + 1)).test(got);
    }
    return got !== undefined && canonicalJson(got) === canonicalJson(want as JsonValue);
  });
}

function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
