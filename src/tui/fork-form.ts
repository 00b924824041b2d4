import { UserError } from '../core/errors.ts';
import { EFFECTS_POLICIES, type EffectsPolicy } from '../engine/effects-policy.ts';
import { OVERRIDE_FIELDS, type BranchOverrides, type PersonaOverride } from '../engine/branching.ts';

/**
 * The fork form: fork at a step with other settings. Its first field chooses whom the four settings below apply to
 * (every agent, or one agent), like `agent=value` on the command line; each target keeps its own values, so one
 * fork can give the writer a temperature and every agent a model. The effects policy and the label are the branch's.
 */
export const FORK_FIELDS = [
  'applies to',
  'model',
  'temperature',
  'system prompt',
  'tools',
  'effects',
  'label',
] as const;
/** Where the four settings are in FORK_FIELDS (model, temperature, system prompt, tools: OVERRIDE_FIELDS' order). */
const FIRST_SETTING = 1;
const EFFECTS_FIELD = 5;
const LABEL_FIELD = 6;
/** The target of the every-agent values (the top-level overrides), as in `*=value` on the command line. */
export const EVERY_AGENT = '*';

export interface ForkForm {
  readonly kind: 'fork-form';
  readonly atSeq: number;
  /** The step forked at, as the rewind list names it (`agent_beta #3`). */
  readonly step: string;
  /** The agent whose step it is (the target the form starts with). */
  readonly agent: string;
  /** Whom the settings may apply to: every agent, the session's agents, then the workspace's other personas. */
  readonly targets: readonly string[];
  /** The target the settings shown are for (an index into targets). */
  readonly target: number;
  /** Per target: the text of its model, temperature, system prompt and tools fields. */
  readonly settings: Readonly<Record<string, readonly string[]>>;
  readonly effects: EffectsPolicy;
  /** The session's policy: what the branch runs under when the form keeps it (then nothing is written). */
  readonly sessionEffects: EffectsPolicy;
  readonly label: string;
  /** The field being edited (an index into FORK_FIELDS). */
  readonly field: number;
  readonly cursor: number;
}

export function openForkForm(spec: {
  atSeq: number;
  step: string;
  agent: string;
  sessionAgents: readonly string[];
  workspaceAgents: readonly string[];
  sessionEffects: EffectsPolicy;
}): ForkForm {
  const agents = [...new Set([spec.agent, ...spec.sessionAgents, ...spec.workspaceAgents])];
  // The step's agent is the one the user most likely means; its session mates follow, then the other personas.
  const sessionFirst = [
    ...agents.filter((a) => spec.sessionAgents.includes(a) || a === spec.agent),
    ...agents.filter((a) => !spec.sessionAgents.includes(a) && a !== spec.agent),
  ];
  const targets = [EVERY_AGENT, ...sessionFirst];
  return {
    kind: 'fork-form',
    atSeq: spec.atSeq,
    step: spec.step,
    agent: spec.agent,
    targets,
    target: Math.max(0, targets.indexOf(spec.agent)),
    settings: {},
    effects: spec.sessionEffects,
    sessionEffects: spec.sessionEffects,
    label: '',
    field: 0,
    cursor: 0,
  };
}

export const targetName = (target: string): string => (target === EVERY_AGENT ? 'every agent' : target);
export const currentTarget = (form: ForkForm): string => form.targets[form.target] ?? EVERY_AGENT;

/** Fields chosen with ← and → (applies to, effects) rather than typed. */
export const isChoiceField = (field: number): boolean => field === 0 || field === EFFECTS_FIELD;
export const isSettingField = (field: number): boolean => field >= FIRST_SETTING && field < EFFECTS_FIELD;

/** A setting's text for a target (fields 1–4). */
export const settingText = (form: ForkForm, target: string, field: number): string =>
  form.settings[target]?.[field - FIRST_SETTING] ?? '';

/** The text of the field being edited ('' for the choice fields). */
export function fieldText(form: ForkForm, field = form.field): string {
  if (isSettingField(field)) return settingText(form, currentTarget(form), field);
  return field === LABEL_FIELD ? form.label : '';
}

/** The form with the edited field's text replaced (choice fields take no text). */
export function withFieldText(form: ForkForm, text: string, cursor: number): ForkForm {
  if (form.field === LABEL_FIELD) return { ...form, label: text, cursor };
  if (!isSettingField(form.field)) return form;
  const target = currentTarget(form);
  const values = OVERRIDE_FIELDS.map((_, i) =>
    i === form.field - FIRST_SETTING ? text : settingText(form, target, i + FIRST_SETTING),
  );
  return { ...form, settings: { ...form.settings, [target]: values }, cursor };
}

/** Moves to another field; the cursor goes to the end of its text. */
export function moveField(form: ForkForm, move: number): ForkForm {
  const field = (form.field + move + FORK_FIELDS.length) % FORK_FIELDS.length;
  return { ...form, field, cursor: fieldText(form, field).length };
}

/** The next (or previous) choice of a choice field: whom the settings apply to, or the effects policy. */
export function cycleChoice(form: ForkForm, move: 1 | -1): ForkForm {
  if (form.field === 0) return { ...form, target: (form.target + move + form.targets.length) % form.targets.length };
  if (form.field !== EFFECTS_FIELD) return form;
  const i = EFFECTS_POLICIES.indexOf(form.effects);
  return { ...form, effects: EFFECTS_POLICIES[(i + move + EFFECTS_POLICIES.length) % EFFECTS_POLICIES.length]! };
}

/**
 * The overrides the form gives: each target's non-empty settings, checked (a provider/name, a number from 0 to 2,
 * tools the workspace has), every agent's at the top level and an agent's under `personas`; the effects policy
 * when it is not the session's. Throws a UserError naming the field and the agent.
 */
export function formOverrides(form: ForkForm, hasTool: (name: string) => boolean): BranchOverrides {
  const all: Record<string, unknown> = {};
  const personas: Record<string, PersonaOverride> = {};
  for (const target of form.targets) {
    const own: Record<string, unknown> = {};
    OVERRIDE_FIELDS.forEach((setting, i) => {
      const text = settingText(form, target, i + FIRST_SETTING).trim();
      if (text !== '') own[setting] = settingValue(setting, text, target, hasTool);
    });
    if (Object.keys(own).length === 0) continue;
    if (target === EVERY_AGENT) Object.assign(all, own);
    else personas[target] = own as PersonaOverride;
  }
  return {
    ...all,
    ...(Object.keys(personas).length === 0 ? {} : { personas }),
    ...(form.effects === form.sessionEffects ? {} : { effects: form.effects }),
  } as BranchOverrides;
}

function settingValue(
  setting: (typeof OVERRIDE_FIELDS)[number],
  text: string,
  target: string,
  hasTool: (name: string) => boolean,
): unknown {
  const where = `${FORK_FIELDS[OVERRIDE_FIELDS.indexOf(setting) + FIRST_SETTING]} for ${targetName(target)}`;
  switch (setting) {
    case 'model':
      if (!/^[^/\s]+\/\S+$/.test(text))
        throw new UserError('E_USAGE', `${where}: '${text}' is not of the form provider/name`, {
          hint: 'For example scripted/default or openai/gpt-4o-mini.',
        });
      return text;
    case 'temperature': {
      const t = Number(text);
      if (!Number.isFinite(t) || t < 0 || t > 2)
        throw new UserError('E_USAGE', `${where}: '${text}' is not a number from 0 to 2`);
      return t;
    }
    case 'system':
      return text;
    case 'tools': {
      const tools = text
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
      const unknown = tools.find((t) => !hasTool(t));
      if (unknown !== undefined)
        throw new UserError('E_UNKNOWN_TOOL', `${where}: unknown tool '${unknown}'`, {
          hint: 'See the tools with: p2tui tools list',
        });
      return tools;
    }
  }
}

/**
 * What a branch's overrides change, per agent, as the fork form and the branch tree show it:
 * `every agent: model openai/x · agent_beta: temperature 0.9, system prompt, tools calculate,notes`.
 * A system prompt is named, not quoted (it can be long).
 */
export function describeChanges(overrides: Readonly<Record<string, unknown>>): string {
  const o = overrides as BranchOverrides;
  const one = (who: string, p: PersonaOverride): string[] => {
    const parts = OVERRIDE_FIELDS.flatMap((field) => {
      const v = p[field];
      if (v === undefined) return [];
      if (field === 'system') return ['system prompt'];
      return [`${field} ${Array.isArray(v) ? v.join(',') : String(v)}`];
    });
    return parts.length === 0 ? [] : [`${targetName(who)}: ${parts.join(', ')}`];
  };
  return [...one(EVERY_AGENT, o), ...Object.entries(o.personas ?? {}).flatMap(([agent, p]) => one(agent, p))].join(
    ' · ',
  );
}

/** What the form will change, from the typed text before it is checked: the summary line under the fields. */
export function describeForm(form: ForkForm): string {
  const parts = form.targets.flatMap((target) => {
    const set = OVERRIDE_FIELDS.flatMap((setting, i) => {
      const text = settingText(form, target, i + FIRST_SETTING).trim();
      if (text === '') return [];
      return [setting === 'system' ? 'system prompt' : `${setting} ${text}`];
    });
    return set.length === 0 ? [] : [`${targetName(target)}: ${set.join(', ')}`];
  });
  if (form.effects !== form.sessionEffects) parts.push(`effects ${form.effects}`);
  return parts.join(' · ');
}
