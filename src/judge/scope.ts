import { suggest, type ValidationIssue } from '../core/errors.ts';
import type { TargetKind } from '../store/scores.ts';
import type { Store } from '../store/store.ts';
import type { EvaluatorConfig } from './config.ts';
import type { TargetScore } from './aggregate.ts';

/**
 * Which conversations an evaluator scores: the one rule the automatic trigger, `eval run`, a rollout spec's
 * evaluators and the aggregations all use. Without `agents:` it is the session's root conversation; with it, every
 * conversation of a listed agent (`'*'`: of every agent).
 */
export function scoresConversation(config: Pick<EvaluatorConfig, 'agents'>, agent: string, root: boolean): boolean {
  return config.agents === undefined ? root : config.agents.includes('*') || config.agents.includes(agent);
}

/** Whether `agents:` was written: then the evaluator scores conversations, never the branch as a whole. */
export function isScoped(config: Pick<EvaluatorConfig, 'agents'>): boolean {
  return config.agents !== undefined;
}

/** A conversation of a branch, with the agent it belongs to. */
export interface BranchConversation {
  readonly id: string;
  readonly agent: string;
  /** The session's top conversation. */
  readonly root: boolean;
}

/** The conversations that have steps on this branch (a sibling branch's delegations are not on it), oldest first. */
export function branchConversations(store: Store, session: string, branch: string): BranchConversation[] {
  const ids = new Set(store.log.visibleEntries(session, store.sessions.segments(branch)).map((e) => e.conversation));
  const out: BranchConversation[] = [];
  for (const id of ids) {
    const row = store.sessions.conversation(id);
    if (row !== undefined) out.push({ id, agent: row.agent, root: row.parent === null });
  }
  return out;
}

/** The conversations of a branch an evaluator scores (none when no listed agent ran on it: that is no score, not 0). */
export function scopedConversations(
  config: Pick<EvaluatorConfig, 'agents'>,
  conversations: readonly BranchConversation[],
): BranchConversation[] {
  return conversations.filter((c) => scoresConversation(config, c.agent, c.root));
}

/**
 * Names of `agents:` that are not personas of the workspace, as issues naming the file and key: a typo would
 * otherwise score nothing, silently.
 */
export function unknownAgentIssues(
  evaluators: readonly Pick<EvaluatorConfig, 'agents'>[],
  personas: Iterable<string>,
  file: string,
  field: (index: number) => string,
  locate: (index: number, agent: number) => { line?: number; column?: number } = () => ({}),
): ValidationIssue[] {
  const known = [...personas].sort();
  const issues: ValidationIssue[] = [];
  evaluators.forEach((e, i) => {
    (e.agents ?? []).forEach((agent, j) => {
      if (agent === '*' || known.includes(agent)) return;
      const near = suggest(agent, known);
      issues.push({
        file,
        ...locate(i, j),
        field: `${field(i)}.agents[${j}]`,
        message: `unknown agent '${agent}'${near === undefined ? '' : ` (did you mean ${near}?)`}; personas: ${known.join(', ') || 'none'}`,
      });
    });
  });
  return issues;
}

/**
 * Drops the scores an evaluator's scope excludes (e.g. the lead's answer scored, before scoping was honoured
 * everywhere, by an evaluator of `agents: [writer]`), so a branch's figure is the mean over its listed agents only.
 * Evaluators not in `configOf` (another workspace's, a rollout spec's) and unscoped ones are kept as they are.
 */
export function inScopeTargets(
  store: Store,
  targets: readonly TargetScore[],
  configOf: (evaluator: string) => Pick<EvaluatorConfig, 'agents'> | undefined,
): TargetScore[] {
  const agentOf = new Map<string, BranchConversation | undefined>();
  const conversation = (session: string, kind: string, id: string): BranchConversation | undefined => {
    const key = `${kind}\n${id}`;
    if (!agentOf.has(key)) {
      const conversationId = kind === 'branch' ? store.sessions.get(session)?.rootConversation : id;
      const row = conversationId === undefined ? undefined : store.sessions.conversation(conversationId);
      agentOf.set(key, row === undefined ? undefined : { id: row.id, agent: row.agent, root: row.parent === null });
    }
    return agentOf.get(key);
  };
  return targets.filter((t) => {
    const config = configOf(t.evaluator);
    if (config === undefined || !isScoped(config)) return true;
    if (t.targetKind !== 'conversation' && t.targetKind !== 'branch') return true;
    // A branch target is the root conversation judged as the branch's answer: in scope only if its agent is.
    const session = t.scores[0]?.session;
    const c = session === undefined ? undefined : conversation(session, t.targetKind, t.targetId);
    return c !== undefined && scoresConversation(config, c.agent, c.root);
  });
}

/** What one evaluation job judges. */
export interface EvaluationTarget {
  readonly kind: TargetKind;
  readonly id: string;
}

/**
 * What an evaluator judges on a branch when asked (`eval run`, a rollout cell), by the same trigger fields as when it
 * runs by itself: `on: artifact` the branch's artifacts (of `artifact_kind`), `on: milestone` the steps that marked
 * its milestone, otherwise the conversations of its `agents:` — or, without them, the branch (its root
 * conversation; `everyConversation`: each conversation, as `eval run --conversations`). Empty: nothing in scope, no
 * score.
 */
export function evaluatorTargets(
  store: Store,
  config: Pick<EvaluatorConfig, 'agents' | 'on' | 'artifact_kind' | 'milestone'>,
  at: { session: string; branch: string; conversations: readonly BranchConversation[]; everyConversation?: boolean },
): EvaluationTarget[] {
  if (config.on === 'artifact' || config.on === 'milestone') {
    const visible = new Set(store.log.visibleEntries(at.session, store.sessions.segments(at.branch)).map((e) => e.id));
    if (config.on === 'artifact') {
      const hashes = store.artifacts
        .list(at.session)
        .filter((a) => a.entry !== null && visible.has(a.entry))
        .filter((a) => config.artifact_kind === undefined || a.kind === config.artifact_kind)
        .map((a) => a.hash);
      return [...new Set(hashes)].map((id) => ({ kind: 'artifact', id }));
    }
    const steps: string[] = [];
    for (let after = 0; ;) {
      const page = store.log.read(after, { session: at.session, types: ['milestone'] }, 1_000);
      for (const e of page) {
        if (e.type !== 'milestone' || !visible.has(e.payload.entry)) continue;
        const name = config.milestone;
        if (name === undefined || name === '*' || name === e.payload.name) steps.push(e.payload.entry);
      }
      if (page.length < 1_000) break;
      after = page.at(-1)!.seq;
    }
    return [...new Set(steps)].map((id) => ({ kind: 'step', id }));
  }
  if (isScoped(config))
    return scopedConversations(config, at.conversations).map((c) => ({ kind: 'conversation', id: c.id }));
  if (at.everyConversation === true) return at.conversations.map((c) => ({ kind: 'conversation', id: c.id }));
  return [{ kind: 'branch', id: at.branch }];
}
