import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError, suggest, type ValidationIssue } from '../core/errors.ts';
import { formatPath, parseYamlWith } from '../core/yaml-schema.ts';
import { BUILTIN_TEMPLATE_VARS, namedGroups, stepStrings, templateVars } from '../models/scripted/script.ts';
import { DEFAULT_POLICIES, DEFAULT_SYSTEM, personaSchema, type Persona } from './persona.ts';
import { PROMPT_VARIABLES, promptVariables } from './prompt.ts';

type Locate = (path: readonly (string | number)[]) => { line: number; column: number } | undefined;

export interface LoadedPersonas {
  readonly personas: ReadonlyMap<string, Persona>;
  /** Line lookup per persona id, for cross-reference errors. */
  readonly locate: ReadonlyMap<string, Locate>;
}

const PERSONA_FILE = /\.(ya?ml|md)$/;

/** Reads and validates every persona file of a workspace (schema only; references are checked by `checkReferences`). */
export function loadPersonas(workspace: string, defaults: { model: string; temperature?: number }): LoadedPersonas {
  const folder = join(workspace, 'personas');
  const personas = new Map<string, Persona>();
  const locate = new Map<string, Locate>();
  if (!existsSync(folder)) return { personas, locate };
  const issues: ValidationIssue[] = [];
  for (const name of readdirSync(folder)
    .filter((f) => PERSONA_FILE.test(f) && !f.startsWith('_'))
    .sort()) {
    const file = join('personas', name);
    const text = readFileSync(join(folder, name), 'utf8');
    try {
      const parsed = name.endsWith('.md')
        ? parseMarkdownPersona(text, file)
        : parseYamlWith(personaSchema, text, file, { code: 'E_PERSONA_INVALID' });
      const p = parsed.value;
      const existing = personas.get(p.id);
      if (existing !== undefined) {
        issues.push({
          file,
          ...parsed.locate(['id']),
          field: 'id',
          message: `persona id '${p.id}' is already defined in ${existing.source}`,
        });
        continue;
      }
      const tools = (p.tools ?? []).filter((t) => t !== 'delegate' && t !== 'ask_user');
      for (const [i, guarded] of (p.policies?.approve_tools ?? []).entries()) {
        if (!tools.includes(guarded))
          issues.push({
            file,
            ...parsed.locate(['policies', 'approve_tools', i]),
            field: `policies.approve_tools[${i}]`,
            message: `'${guarded}' is not one of this agent's tools (${tools.join(', ') || 'none'})`,
          });
      }
      personas.set(p.id, {
        id: p.id,
        description: p.description.trim(),
        model: p.model ?? defaults.model,
        temperature: p.temperature ?? defaults.temperature ?? 0.2,
        systemTemplate: p.system ?? DEFAULT_SYSTEM,
        vars: Object.fromEntries(Object.entries(p.vars ?? {}).map(([k, v]) => [k, String(v)])),
        tools,
        // P2Engine listed `delegate` as a tool and could delegate to anyone: keep that meaning when agents is absent.
        agents: p.agents ?? ((p.tools ?? []).includes('delegate') ? ['*'] : []),
        policies: { ...DEFAULT_POLICIES, ...p.policies },
        balance: p.balance === undefined ? undefined : String(p.balance),
        script: p.script ?? [],
        source: file,
      });
      locate.set(p.id, parsed.locate);
    } catch (error) {
      if (error instanceof ValidationError) issues.push(...error.issues);
      else throw error;
    }
  }
  if (issues.length > 0) throw new ValidationError('E_PERSONA_INVALID', issues, 'Fix the persona files listed above.');
  // Resolve the P2Engine-style wildcard now that every id is known.
  for (const [id, persona] of personas) {
    if (persona.agents.includes('*'))
      personas.set(id, { ...persona, agents: [...personas.keys()].filter((k) => k !== id) });
  }
  return { personas, locate };
}

function parseMarkdownPersona(text: string, file: string): ReturnType<typeof parseYamlWith<typeof personaSchema>> {
  const match = text.match(/^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/);
  if (match === null) {
    throw new ValidationError('E_PERSONA_INVALID', [
      {
        file,
        line: 1,
        column: 1,
        field: '',
        message: 'a Markdown persona starts with YAML front matter between two --- lines',
      },
    ]);
  }
  const front = match[1]!;
  const body = match[2]!.trim();
  const parsed = parseYamlWith(
    personaSchema.omit({ system: true }).extend({ system: personaSchema.shape.system }),
    front,
    file,
    {
      code: 'E_PERSONA_INVALID',
      lineOffset: 1,
    },
  );
  if (parsed.value.system !== undefined && body !== '') {
    throw new ValidationError('E_PERSONA_INVALID', [
      {
        file,
        ...parsed.locate(['system']),
        field: 'system',
        message: 'the system prompt is given twice: in the front matter and as the body; keep one',
      },
    ]);
  }
  return {
    value: { ...parsed.value, system: parsed.value.system ?? (body === '' ? undefined : body) },
    locate: parsed.locate,
  };
}

/**
 * Checks what a persona refers to: tools, agents, model providers, script rules and prompt variables. Every issue
 * names the persona file, the line and the field.
 */
export function checkReferences(
  loaded: LoadedPersonas,
  known: { tools: readonly string[]; providers: readonly string[] },
): void {
  const issues: ValidationIssue[] = [];
  const ids = [...loaded.personas.keys()];
  for (const persona of loaded.personas.values()) {
    const at = (path: (string | number)[], message: string): void => {
      issues.push({ file: persona.source, ...loaded.locate.get(persona.id)?.(path), field: formatPath(path), message });
    };
    persona.tools.forEach((tool, i) => {
      if (!known.tools.includes(tool)) {
        const near = suggest(tool, known.tools);
        at(
          ['tools', i],
          `unknown tool '${tool}'${near === undefined ? '' : ` (did you mean ${near}?)`}; known tools: ${known.tools.join(', ') || '(none)'}`,
        );
      }
    });
    persona.agents.forEach((agent, i) => {
      if (agent === persona.id) at(['agents', i], 'an agent cannot delegate to itself');
      else if (!loaded.personas.has(agent)) {
        const near = suggest(agent, ids);
        at(['agents', i], `unknown agent '${agent}'${near === undefined ? '' : ` (did you mean ${near}?)`}`);
      }
    });
    const provider = persona.model.split('/')[0]!;
    if (!known.providers.includes(provider))
      at(['model'], `unknown model provider '${provider}'; available: ${known.providers.join(', ')}`);
    const vars = new Set<string>([...PROMPT_VARIABLES, ...Object.keys(persona.vars)]);
    for (const name of promptVariables(persona.systemTemplate)) {
      if (!vars.has(name)) at(['system'], `unknown template variable {{${name}}}; available: ${[...vars].join(', ')}`);
    }
    persona.script.forEach((rule, r) => {
      try {
        new RegExp(rule.when, 'i');
      } catch (error) {
        at(['script', r, 'when'], `not a valid regular expression: ${(error as Error).message}`);
        return;
      }
      const allowed = new Set<string>([...BUILTIN_TEMPLATE_VARS, ...namedGroups(rule.when)]);
      rule.steps.forEach((step, s) => {
        const calls =
          'parallel' in step
            ? step.parallel.map((item, k) => ({ item, path: ['script', r, 'steps', s, 'parallel', k] }))
            : [{ item: step, path: ['script', r, 'steps', s] }];
        for (const { item, path } of calls) {
          if ('call' in item && !persona.tools.includes(item.call))
            at([...path, 'call'], `the script calls '${item.call}', which is not in this persona's tools`);
          if ('delegate' in item && !persona.agents.includes(item.delegate))
            at(
              [...path, 'delegate'],
              `the script delegates to '${item.delegate}', which is not in this persona's agents`,
            );
          if ('ask' in item && !persona.policies.ask_user)
            at([...path, 'ask'], 'the script asks the user, but policies.ask_user is false');
        }
        for (const { path, text } of stepStrings(step)) {
          for (const name of templateVars(text)) {
            if (!allowed.has(name))
              at(
                ['script', r, 'steps', s, ...path],
                `unknown template variable {{${name}}}; available: ${[...allowed].join(', ')}`,
              );
          }
        }
      });
    });
  }
  if (issues.length > 0) throw new ValidationError('E_PERSONA_INVALID', issues, 'Fix the persona files listed above.');
}
