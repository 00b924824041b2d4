import { z } from 'zod';
import { ValidationError, suggest, type ValidationIssue } from '../../core/errors.ts';
import { parseYamlWith } from '../../core/yaml-schema.ts';
import { mapLiteLlmModel } from '../../models/litellm-ids.ts';
import { escapeRegExp } from '../../models/scripted/language.ts';
import { templateVars } from '../../models/scripted/script.ts';
import { PERSONA_ID, personaSchema, type PersonaFile } from '../persona.ts';

/*
 * P2Engine's `config/agents.yml` (pydantic models with extra="forbid"): a list of agents of three types. This module
 * reads that file as P2Engine did (same fields, same defaults) and says how each agent becomes a p2tui persona, with
 * what carries over, what is mapped and what has no counterpart. Pure: the caller reads the files.
 */

export const P2ENGINE_AGENT_TYPES = ['llm', 'rule_based', 'human_in_loop'] as const;
export type P2EngineAgentType = (typeof P2ENGINE_AGENT_TYPES)[number];

/** P2Engine's `LLMAgentConfig.llm_model` default. */
export const P2ENGINE_DEFAULT_MODEL = 'openai/gpt-4.1';
/** What P2Engine's RuleBasedAgent replied when no rule matched (with its typographic apostrophe). */
export const P2ENGINE_NO_RULE = 'I don’t have a rule for that.';
/** The model a `human_in_loop` agent gets: a person answers its turns. */
export const HUMAN_MODEL = 'human/operator';
/** The model a `rule_based` agent gets: the simulator follows the rules as a script. */
export const RULES_MODEL = 'scripted/default';

/** The fields of each type besides `id` and `type`, as P2Engine's schema declares them. */
const FIELDS: Readonly<Record<P2EngineAgentType, readonly string[]>> = {
  llm: ['llm_model', 'behavior_template', 'tools', 'render_policy', 'enable_self_reflection', 'reflection_agent_id'],
  rule_based: ['rules'],
  human_in_loop: ['callback_url'],
};

export interface P2EngineAgent {
  readonly id: string;
  readonly type: P2EngineAgentType;
  /** As written; absent means P2Engine's default, `P2ENGINE_DEFAULT_MODEL`. */
  readonly llm_model?: string;
  readonly behavior_template?: string | null;
  readonly tools?: readonly string[];
  /** Declared by P2Engine's schema and never read by it. */
  readonly render_policy?: unknown;
  readonly enable_self_reflection?: boolean;
  readonly reflection_agent_id?: string | null;
  readonly rules?: Readonly<Record<string, string>>;
  readonly callback_url?: string | null;
  /** Its place in the `agents:` list (0-based), as messages name it: `agents[2].tools`. */
  readonly index: number;
  /** Where the entry is (its first key), for messages about it. */
  readonly source: { readonly file: string; readonly line: number; readonly column: number };
  /** Line and column of each field the entry has, and of each tool (`tools[1]`). */
  readonly positions: Readonly<Record<string, { readonly line: number; readonly column: number }>>;
}

/** An entry that cannot be read: it disables only itself. `id` when the entry has a usable one. */
export interface BrokenP2EngineAgent {
  readonly id?: string;
  readonly issues: readonly ValidationIssue[];
}

export interface AgentsYmlEntries {
  readonly agents: readonly P2EngineAgent[];
  /** Entries with problems, and problems of the whole file (YAML syntax, no `agents:` list) with no id. */
  readonly broken: readonly BrokenP2EngineAgent[];
}

const HINT =
  "P2Engine's config/agents.yml lists agents: entries with id, type (llm, rule_based or human_in_loop) and that type's fields.";

/** Reads every entry it can; each problem names file:line:column and the field. */
export function readAgentsYmlEntries(text: string, file: string): AgentsYmlEntries {
  let parsed: ReturnType<typeof parseYamlWith<typeof fileSchema>>;
  try {
    parsed = parseYamlWith(fileSchema, text, file, { code: 'E_AGENTS_YML', hint: HINT });
  } catch (error) {
    if (error instanceof ValidationError) return { agents: [], broken: [{ issues: error.issues }] };
    throw error;
  }
  const entries = parsed.value.agents;
  const read = entries.map((entry, i) => readEntry(entry, i, file, parsed.locate));
  // Two entries for one id: which one is meant cannot be guessed, so neither runs until one is renamed.
  const byId = new Map<string, number[]>();
  read.forEach((r, i) => {
    if (r.id !== undefined) byId.set(r.id, [...(byId.get(r.id) ?? []), i]);
  });
  const agents: P2EngineAgent[] = [];
  const broken: BrokenP2EngineAgent[] = [];
  read.forEach((r, i) => {
    const issues = [...r.issues];
    const same = r.id === undefined ? [] : (byId.get(r.id) ?? []).filter((j) => j !== i);
    if (same.length > 0) {
      const lines = same.map((j) => parsed.locate(['agents', j, 'id'])?.line ?? '?').join(', ');
      issues.push({
        file,
        ...parsed.locate(['agents', i, 'id']),
        field: `agents[${i}].id`,
        message: `id '${r.id}' is also the id of the entry at line ${lines}; an id names one agent`,
      });
    }
    if (issues.length > 0 || r.agent === undefined)
      broken.push({ ...(r.id === undefined ? {} : { id: r.id }), issues });
    else agents.push(r.agent);
  });
  return { agents, broken };
}

/**
 * Parses the file's text; throws ValidationError (E_AGENTS_YML, exit code 3) listing every problem, each with
 * file:line:column and the field.
 */
export function readAgentsYml(text: string, file: string): readonly P2EngineAgent[] {
  const { agents, broken } = readAgentsYmlEntries(text, file);
  if (broken.length > 0)
    throw new ValidationError(
      'E_AGENTS_YML',
      broken.flatMap((b) => b.issues),
      HINT,
    );
  return agents;
}

const fileSchema = z.object({ agents: z.array(z.unknown()) });

type Locate = (path: readonly (string | number)[]) => { line: number; column: number } | undefined;

function readEntry(
  entry: unknown,
  i: number,
  file: string,
  locate: Locate,
): { id?: string; agent?: P2EngineAgent; issues: ValidationIssue[] } {
  const issues: ValidationIssue[] = [];
  const at = (path: readonly (string | number)[], message: string): void => {
    const field = `agents[${i}]${path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}`;
    issues.push({ file, ...locate(['agents', i, ...path]), field, message });
  };
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    at([], `an agent is a map (id: …, type: …), got ${JSON.stringify(entry) ?? String(entry)}`);
    return { issues };
  }
  const fields = entry as Record<string, unknown>;
  const rawId = fields['id'];
  let id: string | undefined;
  if (rawId === undefined) at([], 'id is required');
  else if (typeof rawId !== 'string') at(['id'], `must be a string, got ${JSON.stringify(rawId)}`);
  else if (!PERSONA_ID.test(rawId))
    at(['id'], `'${rawId}' cannot name a p2tui agent: letters, digits, _ and -, starting with a letter, at most 64`);
  else id = rawId;
  const rawType = fields['type'];
  let type: P2EngineAgentType | undefined;
  if (rawType === undefined) at([], `type is required: ${P2ENGINE_AGENT_TYPES.join(', ')}`);
  else if (typeof rawType !== 'string' || !(P2ENGINE_AGENT_TYPES as readonly string[]).includes(rawType)) {
    const near = typeof rawType === 'string' ? suggest(rawType, P2ENGINE_AGENT_TYPES) : undefined;
    at(
      ['type'],
      `unknown agent type ${JSON.stringify(rawType)}${near === undefined ? '' : ` (did you mean ${near}?)`}; ` +
        `P2Engine's types: ${P2ENGINE_AGENT_TYPES.join(', ')}`,
    );
  } else type = rawType as P2EngineAgentType;
  if (type === undefined) return { ...(id === undefined ? {} : { id }), issues };
  const allowed = ['id', 'type', ...FIELDS[type]];
  for (const key of Object.keys(fields)) {
    if (allowed.includes(key)) continue;
    const owner = P2ENGINE_AGENT_TYPES.find((t) => FIELDS[t].includes(key));
    const near = suggest(key, allowed);
    at(
      [key],
      owner !== undefined
        ? `'${key}' is a field of ${owner} agents, not of ${type} agents (P2Engine forbids it here too)`
        : `unknown field '${key}'${near === undefined ? '' : ` (did you mean ${near}?)`}; ${type} agents have: ${allowed.join(', ')}`,
    );
  }
  const optionalString = (key: string, nullable: boolean): void => {
    const v = fields[key];
    if (v === undefined || (nullable && v === null) || typeof v === 'string') return;
    at([key], `must be a string${nullable ? ' or null' : ''}, got ${JSON.stringify(v)}`);
  };
  if (type === 'llm') {
    optionalString('llm_model', false);
    optionalString('behavior_template', true);
    optionalString('reflection_agent_id', true);
    const tools = fields['tools'];
    if (tools !== undefined && tools !== null) {
      if (!Array.isArray(tools)) at(['tools'], `must be a list of tool names, got ${JSON.stringify(tools)}`);
      else
        tools.forEach((t, k) => {
          if (typeof t !== 'string' || t.trim() === '')
            at(['tools', k], `must be a tool name, got ${JSON.stringify(t)}`);
        });
    }
    const reflect = fields['enable_self_reflection'];
    if (reflect !== undefined && typeof reflect !== 'boolean')
      at(['enable_self_reflection'], `must be true or false, got ${JSON.stringify(reflect)}`);
  } else if (type === 'rule_based') {
    const rules = fields['rules'];
    if (rules === undefined) at([], 'rules is required (a map from a message to the reply)');
    else if (typeof rules !== 'object' || rules === null || Array.isArray(rules))
      at(['rules'], `must be a map from a message to its reply, got ${JSON.stringify(rules)}`);
    else
      for (const [k, v] of Object.entries(rules))
        if (typeof v !== 'string') at(['rules', k], `the reply must be a string, got ${JSON.stringify(v)}`);
  } else optionalString('callback_url', true);
  if (issues.length > 0 || id === undefined) return { ...(id === undefined ? {} : { id }), issues };
  const positions: Record<string, { line: number; column: number }> = {};
  for (const key of Object.keys(fields)) {
    const pos = locate(['agents', i, key]);
    if (pos !== undefined) positions[key] = pos;
  }
  if (Array.isArray(fields['tools']))
    fields['tools'].forEach((_, k) => {
      const pos = locate(['agents', i, 'tools', k]);
      if (pos !== undefined) positions[`tools[${k}]`] = pos;
    });
  const start = locate(['agents', i]) ?? { line: 1, column: 1 };
  const agent: P2EngineAgent = {
    ...(Object.fromEntries(Object.entries(fields).filter(([k]) => k !== 'tools' || fields['tools'] !== null)) as Omit<
      P2EngineAgent,
      'source' | 'positions' | 'index'
    >),
    id,
    index: i,
    type,
    source: { file, ...start },
    positions,
  };
  return { id, agent, issues };
}

export interface AgentConversion {
  /** The persona as it would be written to personas/<id>.yaml (validates against personaSchema). */
  readonly persona: PersonaFile;
  /** Human-readable lines: what was carried unchanged, what was mapped (with the mapping), what cannot be. */
  readonly carried: readonly string[];
  readonly mapped: readonly string[];
  readonly cannot: readonly string[];
}

export interface ConversionContext {
  /** The text of a behavior template by name (templates/<name>.j2|.md|.txt, templates/personas/…), or undefined. */
  template(name: string): string | undefined;
  /** Why a template cannot be used (where it was looked for, a near name), for the error; optional. */
  templateProblem?(name: string): string | undefined;
  /** Providers declared in p2tui.yaml (for mapLiteLlmModel). */
  readonly declaredProviders: readonly string[];
}

/**
 * The persona an agent of agents.yml becomes. Throws ValidationError (a UserError: E_AGENTS_YML, exit code 3) when the agent cannot
 * run here: a model of a provider p2tui has no adapter for (the message names it and the OpenAI-compatible route),
 * a behavior template that cannot be found or used, a rule reply p2tui would read as a template.
 */
export function personaFromP2EngineAgent(agent: P2EngineAgent, ctx: ConversionContext): AgentConversion {
  const carried: string[] = [];
  const mapped: string[] = [];
  const cannot: string[] = [];
  const fail = (field: string, message: string, hint: string): never => {
    const pos = agent.positions[field] ?? agent.source;
    const where = { file: agent.source.file, line: pos.line, column: pos.column };
    throw new ValidationError('E_AGENTS_YML', [{ ...where, field: `agents[${agent.index}].${field}`, message }], hint);
  };
  carried.push(`id ${agent.id}`);
  let persona: PersonaFile;
  if (agent.type === 'llm') persona = llmPersona(agent, ctx, { carried, mapped, cannot }, fail);
  else if (agent.type === 'rule_based') persona = rulesPersona(agent, { mapped, cannot }, fail);
  else {
    persona = {
      id: agent.id,
      description: `P2Engine human-in-the-loop agent ${agent.id}: a person answers what it is asked`,
      model: HUMAN_MODEL,
    };
    mapped.push(
      `type human_in_loop → model ${HUMAN_MODEL}: a person answers this agent's turns ` +
        '(P2Engine only replied "Waiting for human response...")',
    );
    if (typeof agent.callback_url === 'string')
      cannot.push(
        `callback_url ${agent.callback_url}: P2Engine only logged it; p2tui calls no URL, it asks the person in the CLI or TUI`,
      );
  }
  // The same check the persona loader makes: what this returns must be a valid personas/<id>.yaml.
  const checked = personaSchema.safeParse(persona);
  if (!checked.success)
    fail('id', checked.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '), HINT);
  return { persona, carried, mapped, cannot };
}

type Lines = { carried?: string[]; mapped: string[]; cannot: string[] };
type Fail = (field: string, message: string, hint: string) => never;

function llmPersona(agent: P2EngineAgent, ctx: ConversionContext, lines: Required<Lines>, fail: Fail): PersonaFile {
  const { carried, mapped, cannot } = lines;
  const written = agent.llm_model;
  const model = mapLiteLlmModel(written ?? P2ENGINE_DEFAULT_MODEL, ctx.declaredProviders);
  if (model.kind === 'unsupported')
    return fail(
      written === undefined ? 'id' : 'llm_model',
      model.message,
      'Declare that provider in p2tui.yaml as an OpenAI-compatible endpoint, or change llm_model.',
    );
  if (written === undefined)
    mapped.push(`llm_model (not set) → model ${model.ref}: P2Engine's default ${P2ENGINE_DEFAULT_MODEL}`);
  else if (model.kind === 'same') carried.push(`llm_model ${written} → model ${model.ref}`);
  else mapped.push(`llm_model ${model.note}`);
  mapped.push(
    'temperature: P2Engine sent 0.7 (and top_p 1.0) with every call; p2tui uses the workspace temperature ' +
      '(p2tui.yaml temperature:, default 0.2) unless the persona sets one',
  );
  const tools = [...(agent.tools ?? [])];
  const template = agent.behavior_template ?? undefined;
  let system: string | undefined;
  if (template !== undefined) {
    system = ctx.template(template);
    if (system === undefined)
      return fail(
        'behavior_template',
        ctx.templateProblem?.(template) ?? `no template '${template}' in templates/ (nor templates/personas/)`,
        `Copy P2Engine's agents/templates/personas/${template}.j2 to templates/personas/, or remove behavior_template.`,
      );
    mapped.push(
      `behavior_template ${template} → the system prompt (P2Engine's generic system_message.j2 preamble is replaced ` +
        "by p2tui's own lines on tools and delegation)",
    );
    // P2Engine's persona_registry added the tools a persona needs at call time (REQUIRED_TOOLS).
    if (template === 'weather_expert' && !tools.includes('get_weather')) {
      tools.push('get_weather');
      mapped.push('tools: get_weather added, as P2Engine added it at call time for the weather_expert persona');
    }
  }
  if (tools.length > 0) carried.push(`tools ${tools.join(', ')}`);
  if (tools.includes('delegate'))
    mapped.push(
      "tools: delegate → this agent may delegate to every other agent of the workspace (p2tui's reading of " +
        'delegate in tools without agents:), as P2Engine let it name any agent id',
    );
  if (agent.render_policy !== undefined) cannot.push('render_policy: P2Engine never read it; ignored');
  if (agent.enable_self_reflection === true)
    cannot.push(
      "enable_self_reflection: p2tui does not re-prompt an agent with its own answer (P2Engine's reflection/self.j2); " +
        'judge the answers with an evaluator (p2tui eval) instead',
    );
  if (typeof agent.reflection_agent_id === 'string')
    cannot.push(
      `reflection_agent_id ${agent.reflection_agent_id}: p2tui does not send a finished answer to a critic agent; ` +
        'judge the answers with an evaluator (p2tui eval), or have the agent delegate to it',
    );
  const description =
    `P2Engine agent ${agent.id}` +
    (template === undefined ? '' : ` (behavior template ${template})`) +
    (tools.length === 0 ? '' : `; tools: ${tools.join(', ')}`);
  return {
    id: agent.id,
    description,
    model: model.ref,
    ...(system === undefined ? {} : { system }),
    ...(tools.length === 0 ? {} : { tools }),
  };
}

function rulesPersona(agent: P2EngineAgent, lines: Lines, fail: Fail): PersonaFile {
  const rules = Object.entries(agent.rules ?? {});
  for (const [message, reply] of rules)
    if (templateVars(reply).length > 0)
      fail(
        'rules',
        `the reply to '${message}' contains {{${templateVars(reply)[0]}}}, which p2tui's simulator would fill as a template variable`,
        'Write the reply without {{…}}.',
      );
  // P2Engine looked the lower-cased message up, so a key with capitals never matched; here every key matches
  // case-insensitively, and the keys already in lower case come first so that they win a tie as they did there.
  const ordered = [...rules.filter(([k]) => k === k.toLowerCase()), ...rules.filter(([k]) => k !== k.toLowerCase())];
  for (const [message] of rules)
    if (message !== message.toLowerCase())
      lines.mapped.push(
        `rule '${message}': P2Engine looked up the lower-cased message and never matched this key; p2tui matches it case-insensitively`,
      );
  for (const [message, reply] of rules)
    if (reply.trim() === '')
      lines.cannot.push(
        `rule '${message}': an empty reply; p2tui agents answer something, so the simulator answers on its own`,
      );
  lines.mapped.push(
    `type rule_based → model ${RULES_MODEL} with a script: each of the ${rules.length} rules matches the whole message ` +
      `case-insensitively and replies its text; any other message is answered "${P2ENGINE_NO_RULE}", as in P2Engine`,
  );
  return {
    id: agent.id,
    description: `P2Engine rule-based agent ${agent.id}: replies from a fixed table of ${rules.length} messages`,
    model: RULES_MODEL,
    // The rules are exact: no sampling noise.
    temperature: 0,
    script: [
      // Anchored at both ends: the whole message, never a clause of it (the simulator keeps such rules whole).
      ...ordered.map(([message, reply]) => ({ when: `^${escapeRegExp(message)}$`, steps: [{ reply }] })),
      { when: '^[\\s\\S]*$', steps: [{ reply: P2ENGINE_NO_RULE }] },
    ],
  };
}
