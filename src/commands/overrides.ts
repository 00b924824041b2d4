import { UserError } from '../core/errors.ts';
import type { BranchOverrides, OverrideField, PersonaOverride, SamplingField } from '../engine/branching.ts';
import type { OptionDefs } from './define.ts';
import { checkModelFlag } from './shared.ts';

/**
 * `--model`, `--temperature`, `--system`, `--tools` of `run`, `session fork` and `session rewind`, one syntax for
 * all four: a bare value is for every agent, `<agent>=<value>` for one agent, each option repeatable; an agent's
 * own value beats the every-agent one. `*=<value>` is the every-agent form spelled out.
 *
 * A value is read as `<agent>=…` only when the part before the first `=` is a word an agent id could be (letters,
 * digits, _ and -, starting with a letter) or `*`: a system prompt such as "Answer as: x = 1" stays a bare value.
 * Such a word that is not a persona of the workspace is refused (a typo would otherwise change every agent).
 */
export const OVERRIDE_OPTIONS = {
  model: {
    type: 'string',
    multiple: true,
    value: '[<agent>=]<provider/name>',
    description: 'Model for every agent, or agent=provider/name for one (repeatable)',
  },
  temperature: {
    type: 'string',
    multiple: true,
    value: '[<agent>=]<t>',
    description: 'Temperature (0–2) for every agent, or agent=t for one (repeatable; an agent’s own value wins)',
  },
  system: {
    type: 'string',
    multiple: true,
    value: '[<agent>=]<prompt>',
    description: 'Another system prompt (a template, as in persona files) for every agent, or agent=prompt for one',
  },
  tools: {
    type: 'string',
    multiple: true,
    value: '[<agent>=]<a,b,…>',
    description: 'Another tool list (comma-separated) for every agent, or agent=a,b for one',
  },
  'top-p': {
    type: 'string',
    multiple: true,
    value: '[<agent>=]<p>',
    description: 'Nucleus sampling (0–1) sent to the model, for every agent or agent=p for one (repeatable)',
  },
  'max-tokens': {
    type: 'string',
    multiple: true,
    value: '[<agent>=]<n>',
    description: 'The longest answer in tokens sent to the model, for every agent or agent=n for one (repeatable)',
  },
} as const satisfies OptionDefs;

/** What the help says of the four options. */
export const OVERRIDES_DETAILS =
  '--model, --temperature, --system, --tools, --top-p and --max-tokens take a bare value for every agent or ' +
  "<agent>=<value> for one agent (each repeatable; an agent's own value beats the every-agent one). <agent>= is read as an agent only when it is a " +
  "word an agent id could be; such a word that is no persona of the workspace is refused. '*=<value>' is for every agent.";

/** The values of OVERRIDE_OPTIONS as a handler reads them (the sampling options may be absent: older callers). */
export type OverrideValues = { readonly [K in OverrideField]: readonly string[] } & {
  readonly 'top-p'?: readonly string[] | undefined;
  readonly 'max-tokens'?: readonly string[] | undefined;
};

/** The option of each sampling setting. */
const SAMPLING_OPTIONS: Readonly<Record<SamplingField, 'top-p' | 'max-tokens'>> = {
  top_p: 'top-p',
  max_tokens: 'max-tokens',
};

const AGENT_WORD = /^(\*|[A-Za-z][A-Za-z0-9_-]{0,63})=/;

/** The agent a value names (`*` for every agent) and the value itself. */
function split(
  field: OverrideField | 'top-p' | 'max-tokens',
  raw: string,
  agents: readonly string[],
): [string, string] {
  const named = AGENT_WORD.exec(raw);
  if (named === null) return ['*', raw];
  const agent = named[1]!;
  if (agent !== '*' && !agents.includes(agent))
    throw new UserError('E_UNKNOWN_AGENT', `--${field} ${raw}: unknown agent '${agent}'`, {
      hint:
        `Agents in this workspace: ${agents.join(', ') || '(none)'}. ` +
        `A value for every agent is given bare${field === 'system' ? ", or as '*=<prompt>' when it starts with <word>=" : ''}.`,
    });
  return [agent, raw.slice(named[0].length)];
}

/** One value checked: a number from 0 to 2, a provider/name, a non-empty tool list. */
function valueOf(field: OverrideField, agent: string, text: string): PersonaOverride[OverrideField] {
  // `--temperature for writer needs a number from 0 to 2, not 'hot'`; a bare value's message names no agent.
  const bad = (what: string, hint: string): UserError =>
    new UserError('E_USAGE', `--${field}${agent === '*' ? '' : ` for ${agent}`} needs ${what}, not '${text}'`, {
      hint,
    });
  switch (field) {
    case 'temperature': {
      const t = text.trim() === '' ? NaN : Number(text);
      if (!Number.isFinite(t) || t < 0 || t > 2)
        throw bad('a number from 0 to 2', 'For example --temperature writer=0.9.');
      return t;
    }
    case 'model':
      if (!/^[^/\s]+\/\S+$/.test(text))
        throw bad('the form provider/name', 'For example --model writer=scripted/default.');
      checkModelFlag(text, agent === '*' ? '--model' : `--model for ${agent}`);
      return text;
    case 'tools': {
      const tools = text
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
      if (tools.length === 0) throw bad('a tool list', 'For example --tools writer=search,save.');
      return tools;
    }
    case 'system':
      if (text.trim() === '') throw bad('a system prompt', 'For example --system writer="You are terse."');
      return text;
  }
}

/** What override values are checked against: the workspace's persona ids and tools. */
export interface OverrideTargets {
  readonly agents: readonly string[];
  hasTool(name: string): boolean;
}

/** The personas and tools of an engine's workspace, for `parseOverrides`. */
export function targetsOf(engine: {
  ports: { personas: { all: ReadonlyMap<string, unknown> }; tools: { get(name: string): unknown } };
}): OverrideTargets {
  return {
    agents: [...engine.ports.personas.all.keys()],
    // delegate and ask_user are granted by the persona's settings, not registered as tools.
    hasTool: (name) => name === 'delegate' || name === 'ask_user' || engine.ports.tools.get(name) !== undefined,
  };
}

/**
 * The overrides the options give, checked against the workspace's personas and tools. A later value for the same
 * agent and setting replaces an earlier one.
 */
export function parseOverrides(options: OverrideValues, targets: OverrideTargets): BranchOverrides {
  const { agents } = targets;
  const all: Record<string, unknown> = {};
  const personas: Record<string, Record<string, unknown>> = {};
  for (const field of ['model', 'temperature', 'system', 'tools'] as const) {
    for (const raw of options[field]) {
      const [agent, text] = split(field, raw, agents);
      const value = valueOf(field, agent, text);
      const unknown = field === 'tools' ? (value as string[]).find((t) => !targets.hasTool(t)) : undefined;
      if (unknown !== undefined)
        throw new UserError(
          'E_UNKNOWN_TOOL',
          `--tools${agent === '*' ? '' : ` for ${agent}`}: unknown tool '${unknown}'`,
          {
            hint: 'See the tools with: p2tui tools list',
          },
        );
      if (agent === '*') all[field] = value;
      else personas[agent] = { ...personas[agent], [field]: value };
    }
  }
  for (const [field, option] of Object.entries(SAMPLING_OPTIONS) as [SamplingField, 'top-p' | 'max-tokens'][]) {
    for (const raw of options[option] ?? []) {
      const [agent, text] = split(option, raw, agents);
      const n = text.trim() === '' ? NaN : Number(text);
      const ok = field === 'top_p' ? Number.isFinite(n) && n >= 0 && n <= 1 : Number.isInteger(n) && n >= 1;
      if (!ok)
        throw new UserError(
          'E_USAGE',
          `--${option}${agent === '*' ? '' : ` for ${agent}`} needs ${field === 'top_p' ? 'a number from 0 to 1' : 'a whole number of at least 1'}, not '${text}'`,
          { hint: `For example --${option} ${field === 'top_p' ? 'writer=0.9' : 'writer=500'}.` },
        );
      if (agent === '*') all[field] = n;
      else personas[agent] = { ...personas[agent], [field]: n };
    }
  }
  return { ...all, ...(Object.keys(personas).length === 0 ? {} : { personas }) } as BranchOverrides;
}
