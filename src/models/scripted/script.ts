import { z } from 'zod';

/**
 * Persona script rules for the scripted simulator: when the task matches `when` (a case-insensitive regular
 * expression), the agent follows `steps`, one step per model call. Named groups of `when` become template
 * variables (`{{city}}`), next to `{{task}}`, `{{agent}}`, `{{round}}`, `{{result}}` (what the last round's calls
 * returned) and `{{answer}}` (the user's answer to the last question).
 */
const callItem = z.union([
  z.strictObject({ call: z.string().min(1), args: z.record(z.string(), z.unknown()).optional() }),
  z.strictObject({ delegate: z.string().min(1), message: z.string().min(1) }),
  z.strictObject({ ask: z.string().min(1) }),
]);

const say = { say: z.string().optional() };

export const scriptStepSchema = z.union([
  z.strictObject({ reply: z.string() }),
  z.strictObject({
    call: z.string().min(1),
    args: z.record(z.string(), z.unknown()).optional(),
    repeat: z.int().min(1).max(100_000).optional(),
    ...say,
  }),
  z.strictObject({ delegate: z.string().min(1), message: z.string().min(1), ...say }),
  z.strictObject({ ask: z.string().min(1), ...say }),
  z.strictObject({ parallel: z.array(callItem).min(1), repeat: z.int().min(1).max(100_000).optional(), ...say }),
]);

export const scriptRuleSchema = z.strictObject({
  when: z.string().min(1),
  steps: z.array(scriptStepSchema).min(1),
});

export type ScriptStep = z.infer<typeof scriptStepSchema>;
export type ScriptRule = z.infer<typeof scriptRuleSchema>;
export type ScriptCallItem = z.infer<typeof callItem>;

export const BUILTIN_TEMPLATE_VARS = ['task', 'agent', 'round', 'result', 'answer'] as const;

/** Template variables a string uses, for validation at load time. */
export function templateVars(text: string): string[] {
  return [...text.matchAll(/\{\{\s*([A-Za-z_][\w]*)\s*\}\}/g)].map((m) => m[1]!);
}

/** Fills `{{name}}` placeholders; `vars` may be a lookup, so costly values are computed only when used. */
export function fillTemplate(
  text: string,
  vars: Readonly<Record<string, string>> | ((name: string) => string | undefined),
): string {
  if (!text.includes('{{')) return text;
  const lookup = typeof vars === 'function' ? vars : (name: string) => vars[name];
  return text.replace(/\{\{\s*([A-Za-z_][\w]*)\s*\}\}/g, (_, name: string) => lookup(name) ?? '');
}

/** Named capture groups of a rule's pattern. */
export function namedGroups(pattern: string): string[] {
  return [...pattern.matchAll(/\(\?<([A-Za-z_]\w*)>/g)].map((m) => m[1]!);
}

/** Every string inside a step, with its path, for template checks. */
export function stepStrings(step: ScriptStep): { path: (string | number)[]; text: string }[] {
  const out: { path: (string | number)[]; text: string }[] = [];
  const visit = (value: unknown, path: (string | number)[]): void => {
    if (typeof value === 'string') out.push({ path, text: value });
    else if (Array.isArray(value)) value.forEach((v, i) => visit(v, [...path, i]));
    else if (value !== null && typeof value === 'object')
      for (const [k, v] of Object.entries(value)) visit(v, [...path, k]);
  };
  visit(step, []);
  return out;
}
