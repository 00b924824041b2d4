import type { Persona } from './persona.ts';

/** Variables every system prompt template may use, besides the persona's own `vars`. */
export const PROMPT_VARIABLES = ['id', 'description', 'tools', 'agents'] as const;

export function promptVariables(template: string): string[] {
  return [...template.matchAll(/\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g)].map((m) => m[1]!);
}

/**
 * Renders a persona's system prompt: its template with `{{variables}}` filled, then a short, fixed note on
 * delegation and questions when the persona can use them (models need to be told what the built-in tools are for).
 */
export function renderSystemPrompt(
  persona: Persona,
  delegates: readonly { id: string; description: string }[],
  canAsk: boolean,
): string {
  const values: Record<string, string> = {
    id: persona.id,
    description: persona.description,
    tools: persona.tools.join(', ') || '(none)',
    agents: persona.agents.join(', ') || '(none)',
    ...persona.vars,
  };
  let text = persona.systemTemplate
    .replace(/\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g, (_, name: string) => values[name] ?? '')
    .trim();
  if (delegates.length > 0) {
    const delegateList = delegates.map((d) => `${d.id} (${d.description})`).join('; ');
    text +=
      `\n\nYou can delegate work with the delegate tool to: ${delegateList}. ` +
      'Delegate independent parts in parallel, then use their answers to finish the task yourself.';
  }
  if (canAsk) text += '\n\nIf you need information only the user has, ask with the ask_user tool.';
  text += '\n\nWhen the task is done, reply with your final answer as plain text.';
  return text;
}
