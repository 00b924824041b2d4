import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError, messageOf, type ValidationIssue } from '../../core/errors.ts';
import type { PersonaFile } from '../persona.ts';
import { resolveBehaviorTemplate } from '../templates.ts';
import { personaFromP2EngineAgent, readAgentsYmlEntries, type P2EngineAgent } from './agents-yml.ts';

/** Where a workspace keeps P2Engine's agents file: where P2Engine read it (its AGENTS_CFG default). */
export const AGENTS_YML = 'config/agents.yml';

type Position = { line: number; column: number };

export interface AgentsYmlPersona {
  readonly persona: PersonaFile;
  /** Line and column in config/agents.yml of a persona field path (`tools[1]`, `model`), for reference errors. */
  locate(path: readonly (string | number)[]): Position | undefined;
  /** Line of the entry, for messages about an id defined twice. */
  readonly line: number;
}

export interface AgentsYmlBroken {
  /** The agent it would define; for a file that cannot be parsed, each id it seems to name (else 'agents'). */
  readonly id: string;
  readonly issues: readonly ValidationIssue[];
}

/**
 * The agents of a workspace's config/agents.yml as personas (none when the file is absent). An entry that cannot
 * be read or run here is set aside with its problems and disables only itself, as a broken persona file does.
 */
export function loadAgentsYml(
  root: string,
  declaredProviders: readonly string[],
): { personas: AgentsYmlPersona[]; broken: AgentsYmlBroken[] } {
  const path = join(root, AGENTS_YML);
  if (!existsSync(path)) return { personas: [], broken: [] };
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    return {
      personas: [],
      broken: [{ id: '', issues: [{ file: AGENTS_YML, field: '', message: `cannot be read: ${messageOf(error)}` }] }],
    };
  }
  const entries = readAgentsYmlEntries(text, AGENTS_YML);
  const broken: AgentsYmlBroken[] = entries.broken.flatMap((b) =>
    b.id !== undefined
      ? [{ id: b.id, issues: b.issues }]
      : // A file that cannot be parsed: the agents it names are unavailable (running one shows why), not unknown.
        namedIds(text, entries.agents.length === 0 && entries.broken.length === 1).map((id) => ({
          id,
          issues: b.issues,
        })),
  );
  const personas: AgentsYmlPersona[] = [];
  // Each name is looked up once (a missing template is asked for its text, then for the problem).
  const templates = new Map<string, ReturnType<typeof resolveBehaviorTemplate>>();
  const resolved = (name: string): ReturnType<typeof resolveBehaviorTemplate> => {
    const known = templates.get(name);
    if (known !== undefined) return known;
    const found = resolveBehaviorTemplate(root, name);
    templates.set(name, found);
    return found;
  };
  const ctx = {
    declaredProviders,
    template: (name: string): string | undefined => {
      const found = resolved(name);
      return 'text' in found ? found.text : undefined;
    },
    templateProblem: (name: string): string | undefined => {
      const found = resolved(name);
      return 'error' in found ? found.error : undefined;
    },
  };
  for (const agent of entries.agents) {
    try {
      const { persona } = personaFromP2EngineAgent(agent, ctx);
      personas.push({ persona, locate: locator(agent), line: agent.source.line });
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      broken.push({ id: agent.id, issues: error.issues });
    }
  }
  return { personas, broken };
}

/** The ids a file that cannot be parsed seems to name (`- id: x` lines), or the file's name when none. */
function namedIds(text: string, wholeFile: boolean): string[] {
  const ids = wholeFile
    ? [...text.matchAll(/^\s*-?\s*id:\s*["']?([A-Za-z][\w-]{0,63})["']?\s*$/gm)].map((m) => m[1]!)
    : [];
  return ids.length === 0 ? ['agents'] : [...new Set(ids)];
}

/** Persona field paths (what the reference checks name) at their place in the agents.yml entry. */
function locator(agent: P2EngineAgent): AgentsYmlPersona['locate'] {
  return (path) => {
    const [head, index] = path;
    const at = agent.positions;
    if (head === 'tools')
      return (typeof index === 'number' ? at[`tools[${index}]`] : undefined) ?? at['tools'] ?? agent.source;
    if (head === 'model') return at['llm_model'] ?? agent.source;
    if (head === 'system') return at['behavior_template'] ?? agent.source;
    if (head === 'script') return at['rules'] ?? agent.source;
    return at[String(head)] ?? agent.source;
  };
}
