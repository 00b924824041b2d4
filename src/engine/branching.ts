import type { Entry } from '../core/entries.ts';
import type { Persona } from '../agents/persona.ts';
import { isEffectsPolicy, type EffectsPolicy } from './effects-policy.ts';
import { UserError, suggest } from '../core/errors.ts';
import { newBranchId } from '../core/ids.ts';
import type { BranchSegment } from '../store/log.ts';
import type { BranchRow, SessionRow } from '../store/sessions.ts';
import type { Store } from '../store/store.ts';

/**
 * Branches: copy-on-write timelines of a whole session. A fork writes one branch row and its short list of
 * ancestor segments (never entries); a branch sees its own entries plus each ancestor's up to that segment's seq.
 * Rewind is a fork at an earlier point, checked out; the old branch stays as it was.
 */

/**
 * What a branch may change for the steps taken on it. Each setting is given for every agent (the top-level
 * fields) or per agent (`personas`); an agent's own value beats the every-agent one.
 */
export interface BranchOverrides {
  readonly model?: string;
  readonly temperature?: number;
  /** Another system prompt (a template, as in persona files) or tool list for every agent on this branch. */
  readonly system?: string;
  readonly tools?: readonly string[];
  /** Sampling settings for every agent on this branch (`--top-p`, `--max-tokens`); an agent's own value wins. */
  readonly top_p?: number;
  readonly max_tokens?: number;
  /** Per agent: another system prompt, tool list, model or temperature on this branch. */
  readonly personas?: Readonly<Record<string, PersonaOverride>>;
  /** What effectful calls do on this branch (see effects-policy.ts); absent: the session's policy. */
  readonly effects?: EffectsPolicy;
}

export interface PersonaOverride {
  readonly system?: string;
  readonly tools?: readonly string[];
  readonly model?: string;
  readonly temperature?: number;
  /** Sampling settings a rollout variant sets (P2Engine's `top_p`, and `max_tokens`), written as in the spec. */
  readonly top_p?: number;
  readonly max_tokens?: number;
  /**
   * Who the agent may delegate to. Set by a rollout variant whose P2Engine-style `tools` list leaves `delegate` out
   * (P2Engine's agent could delegate only with the delegate tool): `[]`, no delegation in that variant.
   */
  readonly agents?: readonly string[];
}

/** The settings an override may change, in the order a listing shows them. */
export const OVERRIDE_FIELDS = ['model', 'temperature', 'system', 'tools'] as const;
export type OverrideField = (typeof OVERRIDE_FIELDS)[number];
/** Settings set like the system prompt and tools (merged into each agent's persona), not shown in the TUI's form. */
export const SAMPLING_FIELDS = ['top_p', 'max_tokens'] as const;
export type SamplingField = (typeof SAMPLING_FIELDS)[number];

/**
 * Overrides for a listing, per setting and the agents it touches (`*` for every agent):
 * `temperature *=0.1 writer=0.9; system writer; tools writer=search,save; effects dry-run`. A system prompt is named,
 * not quoted; the branch's effects policy comes last, when the fork set one.
 */
export function describeOverrides(overrides: Readonly<Record<string, unknown>>): string {
  const o = overrides as BranchOverrides;
  const show = (field: OverrideField, who: string, v: PersonaOverride[OverrideField]): string =>
    field === 'system' ? who : `${who}=${Array.isArray(v) ? v.join(',') : String(v)}`;
  const settings = OVERRIDE_FIELDS.flatMap((field) => {
    const parts = [
      ...(o[field] === undefined ? [] : [show(field, '*', o[field])]),
      ...Object.entries(o.personas ?? {}).flatMap(([agent, p]) =>
        p[field] === undefined ? [] : [show(field, agent, p[field])],
      ),
    ];
    return parts.length === 0 ? [] : [`${field} ${parts.join(' ')}`];
  });
  const sampling = SAMPLING_FIELDS.flatMap((field) => {
    const parts = [
      ...(o[field] === undefined ? [] : [`*=${o[field]}`]),
      ...Object.entries(o.personas ?? {}).flatMap(([agent, p]) =>
        p[field] === undefined ? [] : [`${agent}=${p[field]}`],
      ),
    ];
    return parts.length === 0 ? [] : [`${field} ${parts.join(' ')}`];
  });
  settings.push(...sampling);
  // The branch's own policy, `live` included: a fork that asked for live effects under a dry-run session says so.
  const effects = isEffectsPolicy(o.effects) ? [`effects ${o.effects}`] : [];
  return [...settings, ...effects].join('; ');
}

/**
 * What a branch changes of one agent's persona: the every-agent system prompt and tools with the agent's own
 * settings on top. The every-agent model and temperature are session options (see `optionsFor` in the runtime).
 */
export function agentOverride(overrides: BranchOverrides, agent: string): PersonaOverride | undefined {
  const own = overrides.personas?.[agent];
  const every = {
    ...(overrides.system === undefined ? {} : { system: overrides.system }),
    ...(overrides.tools === undefined ? {} : { tools: overrides.tools }),
    ...(overrides.top_p === undefined ? {} : { top_p: overrides.top_p }),
    ...(overrides.max_tokens === undefined ? {} : { max_tokens: overrides.max_tokens }),
  };
  if (Object.keys(every).length === 0) return own;
  return { ...every, ...own };
}

/** A persona as a branch's overrides change it (the same object when they do not touch it). */
export function overriddenPersona(persona: Persona, override: PersonaOverride | undefined): Persona {
  if (override === undefined) return persona;
  return {
    ...persona,
    ...(override.system === undefined ? {} : { systemTemplate: override.system }),
    // `delegate` and `ask_user` are not tools of a persona but what its agents and policy give it (as the persona
    // loader reads them): a P2Engine variant's `tools: [get_weather, delegate]` keeps its delegates, and no cell fails
    // looking up a tool named delegate.
    ...(override.tools === undefined
      ? {}
      : { tools: override.tools.filter((t) => t !== 'delegate' && t !== 'ask_user') }),
    ...(override.model === undefined ? {} : { model: override.model }),
    ...(override.temperature === undefined ? {} : { temperature: override.temperature }),
    ...(override.top_p === undefined ? {} : { topP: override.top_p }),
    ...(override.max_tokens === undefined ? {} : { maxTokens: override.max_tokens }),
    ...(override.agents === undefined ? {} : { agents: [...override.agents] }),
  };
}

export interface ForkSpec {
  /** The branch to fork (default: the checked-out one). */
  readonly from?: string;
  /** The last seq the new branch keeps (default: the source's newest entry). */
  readonly atSeq?: number;
  /** The new branch's name, chosen by the user: refused when another branch of the session has it. */
  readonly label?: string;
  /**
   * A generated name (`rewind to #2`, a rollout cell's), used when `label` is not given: numbered (`rewind to #2 (2)`)
   * when taken, so a label always names one branch and checkout by label never has to guess.
   */
  readonly defaultLabel?: string;
  readonly overrides?: BranchOverrides;
  readonly createdBy: string;
  readonly now: number;
}

/** An effectful call on the source branch after the fork point: its effect is not undone by forking. */
export interface EffectAfterFork {
  readonly tool: string;
  readonly key: string;
  readonly status: string;
  readonly conversation: string;
  /** The tool declares a compensating action (`p2tui session compensate <session> <key>` runs it). */
  readonly compensable: boolean;
}

export interface Fork {
  readonly branch: BranchRow;
  readonly effects: readonly EffectAfterFork[];
}

/** Resolves a branch of a session by id, unique id prefix or label. */
export function resolveBranch(store: Store, session: SessionRow, ref: string): BranchRow {
  // An exact id is one lookup (forks name their source this way); labels and prefixes need the list.
  const byId = store.sessions.branch(ref);
  if (byId !== undefined && byId.session === session.id) return byId;
  const branches = store.sessions.branches(session.id);
  const exact = branches.find((b) => b.id === ref);
  if (exact !== undefined) return exact;
  const labelled = branches.filter((b) => b.label === ref);
  if (labelled.length === 1) return labelled[0]!;
  // Forks refuse a taken label now; a database from before that can hold several: the user picks one, p2tui never guesses.
  if (labelled.length > 1)
    throw new UserError(
      'E_AMBIGUOUS_ID',
      `session ${session.id} has ${labelled.length} branches labelled '${ref}': ${labelled.map((b) => b.id).join(', ')}`,
      { hint: `Name one by its id (or a unique prefix of it); p2tui session branches ${session.id} lists them.` },
    );
  const prefixed = branches.filter((b) => b.id.startsWith(ref));
  if (prefixed.length === 1) return prefixed[0]!;
  const names = branches.map((b) => `${b.id}${b.label === null ? '' : ` (${b.label})`}`).join(', ');
  // The nearest label or id first, when the name is a typo of one.
  const near = suggest(ref, [...branches.map((b) => b.label ?? b.id), ...branches.map((b) => b.id)]);
  throw new UserError(
    prefixed.length > 1 ? 'E_AMBIGUOUS_ID' : 'E_UNKNOWN_BRANCH',
    `session ${session.id} has ${prefixed.length > 1 ? 'several branches matching' : 'no branch'} '${ref}'`,
    {
      hint: `${near === undefined || prefixed.length > 1 ? '' : `Did you mean ${near}? `}Its branches: ${names}. List them with: p2tui session branches ${session.id}`,
    },
  );
}

/** The new branch's label: the user's own must be free (else E_USAGE naming the branch that has it); a generated one is numbered. */
function branchLabel(store: Store, session: SessionRow, spec: ForkSpec): string | null {
  const taken = new Map(
    store.sessions
      .branches(session.id)
      .filter((b) => b.label !== null)
      .map((b) => [b.label!, b.id]),
  );
  if (spec.label !== undefined) {
    const holder = taken.get(spec.label);
    if (holder !== undefined)
      throw new UserError('E_USAGE', `session ${session.id} already has a branch labelled '${spec.label}': ${holder}`, {
        hint: `Choose another --label, or check that branch out: p2tui session checkout ${session.id} ${holder}`,
      });
    return spec.label;
  }
  if (spec.defaultLabel === undefined) return null;
  let label = spec.defaultLabel;
  for (let n = 2; taken.has(label); n++) label = `${spec.defaultLabel} (${n})`;
  return label;
}

/** The entries visible on a branch, in seq order. */
export function branchEntries(store: Store, session: string, branch: string): Entry[] {
  return store.log.visibleEntries(session, store.sessions.segments(branch));
}

/**
 * Forks a branch at a seq: the new branch sees exactly the source's history up to that seq (every conversation,
 * delegated children included: a consistent cut) and nothing after it. Costs one row per ancestor segment.
 */
export function forkBranch(
  store: Store,
  session: SessionRow,
  spec: ForkSpec,
  compensable: (tool: string) => boolean = () => false,
): Fork {
  const source =
    spec.from === undefined ? store.sessions.branch(session.headBranch)! : resolveBranch(store, session, spec.from);
  const sourceSegments = store.sessions.segments(source.id);
  // Index lookups only: a fork costs the same whatever the length of the history before it.
  const newest = store.log.newestVisibleSeq(session.id, sourceSegments);
  const requested = spec.atSeq ?? newest;
  // At the head the newest entry is the point; an earlier point needs a visible entry at or before it.
  const hasEntryAtOrBefore = (seq: number): boolean =>
    seq === newest ? newest > 0 : store.log.newestVisibleSeq(session.id, cutSegments(sourceSegments, seq)) > 0;
  if (!Number.isInteger(requested) || requested < 1 || !hasEntryAtOrBefore(requested)) {
    throw new UserError(
      'E_USAGE',
      `cannot fork branch ${source.id} at seq ${requested}: it has no entry at or before it`,
      { hint: `See the seqs with: p2tui session stack ${session.id}` },
    );
  }
  if (requested > newest)
    throw new UserError(
      'E_USAGE',
      `cannot fork branch ${source.id} at seq ${requested}: its newest entry is seq ${newest}`,
      { hint: `See the seqs with: p2tui session stack ${session.id}` },
    );
  // A seq between entries (a model call, a child's creation) means the entry before it: every cut is at an entry.
  const point =
    requested === newest ? newest : store.log.newestVisibleSeq(session.id, cutSegments(sourceSegments, requested));
  // The entry at the point and everything after it, read once: enough to place the cut and to list effects.
  let from = store.log.visibleEntriesAfter(session.id, sourceSegments, point - 1);
  let atSeq = endOfResponse(point, from);
  const end = from.find((e) => e.seq === atSeq);
  if (end?.kind === 'waiting') {
    // The calls of that response sit just before its `waiting` (one commit appends them in a row).
    const response = store.log
      .visibleEntriesAfter(session.id, sourceSegments, end.seq - end.payload.callIds.length - 2)
      .filter((e) => e.seq < point);
    from = [...response, ...from];
    atSeq = withDelegationsStarted(end, from);
  }
  const label = branchLabel(store, session, spec);
  // The source itself up to the fork point, then its ancestors, each cut at the fork point too.
  const segments = cutSegments(sourceSegments, atSeq);
  const branch: BranchRow = {
    id: newBranchId(),
    session: session.id,
    parent: source.id,
    forkSeq: atSeq,
    label,
    // A branch of a branch keeps its parent's settings, with the fork's own on top.
    overrides: mergeOverrides(source.overrides as BranchOverrides, spec.overrides ?? {}) as Record<string, unknown>,
    createdBy: spec.createdBy,
    createdAt: spec.now,
  };
  store.sessions.createBranch(branch, segments);
  // Only what came after the fork point is read (a rewind of a few steps reads a few entries).
  const effects = from
    .filter((e) => e.seq > atSeq && e.kind === 'tool_call' && e.payload.effect === 'effectful')
    .flatMap((e) => {
      if (e.kind !== 'tool_call') return [];
      const intent = store.calls.intent(e.payload.key);
      // A dry run's call changed nothing real (simulated, or not executed): there is nothing to undo.
      const simulated = intent?.result?.kind === 'tool_result' && intent.result.payload.simulated === true;
      return intent === undefined || intent.status === 'pending' || simulated
        ? []
        : [
            {
              tool: e.payload.tool,
              key: e.payload.key,
              status: intent.status,
              conversation: e.conversation,
              compensable: compensable(e.payload.tool),
            },
          ];
    });
  return { branch, effects };
}

/** A branch's segments as a fork at `seq` sees them. */
function cutSegments(segments: readonly BranchSegment[], seq: number): BranchSegment[] {
  return segments.map((s) => ({
    branch: s.branch,
    maxSeq: Math.min(s.maxSeq, seq),
    ...(s.afterSeq === undefined ? {} : { afterSeq: s.afterSeq }),
  }));
}

/**
 * Overrides of a parent branch with a fork's on top. A fork's every-agent value of a setting replaces the parent's
 * for every agent (its per-agent values of that setting too); its per-agent values replace the parent's for
 * those agents.
 */
export function mergeOverrides(parent: BranchOverrides, own: BranchOverrides): BranchOverrides {
  const personas: Record<string, Record<string, unknown>> = {};
  for (const [agent, o] of Object.entries(parent.personas ?? {})) {
    const kept = Object.fromEntries(Object.entries(o).filter(([k]) => own[k as OverrideField] === undefined));
    if (Object.keys(kept).length > 0) personas[agent] = kept;
  }
  for (const [agent, o] of Object.entries(own.personas ?? {})) personas[agent] = { ...personas[agent], ...o };
  const top = Object.fromEntries(
    [...OVERRIDE_FIELDS, ...SAMPLING_FIELDS].flatMap((f) => {
      const v = own[f] ?? parent[f];
      return v === undefined ? [] : [[f, v]];
    }),
  );
  // A fork's effects policy is its own (effects-policy.ts): never inherited from the parent branch.
  const effects = own.effects === undefined ? {} : { effects: own.effects };
  return { ...top, ...(Object.keys(personas).length === 0 ? {} : { personas }), ...effects } as BranchOverrides;
}

/**
 * Whether a fork changes an agent's persona (its prompt, tools, or a per-agent model or temperature), which a
 * runtime cannot take on in memory: only the session options (every agent's model and temperature) can.
 */
export function changesPersonas(parent: BranchOverrides, own: BranchOverrides): boolean {
  if (own.personas !== undefined || own.system !== undefined || own.tools !== undefined) return true;
  if (own.top_p !== undefined || own.max_tokens !== undefined) return true;
  // An every-agent model or temperature drops the parent's per-agent values of it.
  return Object.values(parent.personas ?? {}).some(
    (o) =>
      (own.model !== undefined && o.model !== undefined) ||
      (own.temperature !== undefined && o.temperature !== undefined),
  );
}

/**
 * A cut in the middle of one model response (after its text, between its calls) would leave the conversation
 * deciding with nobody to finish the response: the cut moves to the end of that response (its `waiting`,
 * `finished` or `failed` entry), which the same commit wrote.
 */
function endOfResponse(atSeq: number, fromCut: readonly Entry[]): number {
  const at = fromCut[0];
  if (
    at === undefined ||
    at.seq !== atSeq ||
    !['assistant_message', 'tool_call', 'agent_call', 'user_input_request'].includes(at.kind)
  )
    return atSeq;
  const end = fromCut.find(
    (e) =>
      e.seq > atSeq &&
      e.conversation === at.conversation &&
      (e.kind === 'waiting' || e.kind === 'finished' || e.kind === 'failed'),
  );
  return end?.seq ?? atSeq;
}

/**
 * The commit that ends a response with `waiting` also gives each delegated child its task (and a refused one its
 * failure): a cut right after `waiting` would leave the parent waiting on a child that never heard of the call, or
 * on a reused child still showing its previous answer. The cut moves past those entries too.
 */
function withDelegationsStarted(waiting: Extract<Entry, { kind: 'waiting' }>, entries: readonly Entry[]): number {
  let cut = waiting.seq;
  for (const call of entries) {
    if (
      call.kind !== 'agent_call' ||
      call.conversation !== waiting.conversation ||
      !waiting.payload.callIds.includes(call.payload.callId)
    )
      continue;
    const child = call.payload.child;
    const task = entries.find((e) => e.seq > waiting.seq && e.conversation === child);
    if (task?.kind !== 'user_message') continue;
    cut = Math.max(cut, task.seq);
    const next = entries.find((e) => e.seq > task.seq && e.conversation === child);
    if (
      next?.kind === 'failed' &&
      (next.payload.code === 'E_DELEGATION_CYCLE' || next.payload.code === 'E_DELEGATION_DEPTH')
    )
      cut = Math.max(cut, next.seq);
  }
  return cut;
}

/** The seq of a conversation's entry by its position in `session stack` (0-based) on a branch, for rewinding by step. */
export function seqOfStep(
  store: Store,
  session: SessionRow,
  step: number,
  conversation?: string,
  branch: string = session.headBranch,
): number {
  const entries = branchEntries(store, session.id, branch);
  const visible = new Set(entries.map((e) => e.conversation));
  const rows = store.sessions.conversations(session.id).filter((r) => visible.has(r.id));
  const target =
    conversation === undefined
      ? rows.find((r) => r.id === session.rootConversation)
      : (rows.find((r) => r.id === conversation || r.path === conversation) ??
        rows.find((r) => r.agent === conversation || r.id.startsWith(conversation)));
  if (target === undefined)
    throw new UserError('E_USAGE', `session ${session.id} has no conversation '${conversation ?? ''}'`, {
      hint: `See them with: p2tui session stack ${session.id}`,
    });
  const own = entries.filter((e) => e.conversation === target.id);
  const entry = own[step];
  if (!Number.isInteger(step) || step < 0 || entry === undefined) {
    throw new UserError(
      'E_USAGE',
      `conversation ${target.path} has steps #0 to #${own.length - 1}; there is no #${step}`,
      { hint: `See them with: p2tui session stack ${session.id} --conversation ${target.agent}` },
    );
  }
  return entry.seq;
}

/** A branch for listing: where it came from, how long it is, whether it is checked out. */
export interface BranchSummary {
  readonly branch: BranchRow;
  readonly entries: number;
  readonly checkedOut: boolean;
}

export function branchSummaries(store: Store, session: SessionRow): BranchSummary[] {
  return store.sessions.branches(session.id).map((branch) => ({
    branch,
    entries: branchEntries(store, session.id, branch.id).length,
    checkedOut: branch.id === session.headBranch,
  }));
}
