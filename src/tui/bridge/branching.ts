import { diffSequences } from '../../core/diff.ts';
import { diffBranches } from '../../engine/branch-diff.ts';
import { artifactLines, artifactPreview, comparableArtifacts } from '../../commands/session/artifacts.ts';
import { branchSummaries, type BranchOverrides } from '../../engine/branching.ts';
import { effectsPolicyOf } from '../../engine/effects-policy.ts';
import { targetsOf } from '../../commands/overrides.ts';
import { describeChanges, formOverrides, type ForkForm } from '../fork-form.ts';
import { scoreByBranch } from '../../judge/aggregate.ts';
import { inScopeTargets } from '../../judge/scope.ts';
import { notify, type BranchItem, type Overlay } from '../state.ts';
import type { BridgeHost } from './host.ts';

/** Something the artifacts overlay lists: a blob (by hash) or an entry (by id). */
type ArtifactItem = Extract<Overlay, { kind: 'artifacts' }>['items'][number];

/** Branches of the open session: the tree, forks and rewinds, checkouts, and comparing branches or artifacts. */
export class Branching {
  private readonly host: BridgeHost;
  private readonly previews = new Map<string, string>();

  constructor(host: BridgeHost) {
    this.host = host;
  }

  /** The open session's branches, as a tree (children under their parent, in creation order). */
  branches(): BranchItem[] {
    const id = this.host.store.get().open?.id;
    if (id === undefined) return [];
    const session = this.host.engine.store.sessions.resolve(id);
    const list = branchSummaries(this.host.engine.store, session);
    const registry = this.host.app.workspace.evaluators;
    const weights = new Map(registry.list().map((e) => [e.id, e.config.weight]));
    // Only what each evaluator's scope (agents:) covers, as in eval top.
    const scores = scoreByBranch(
      this.host.engine.store.scores.scores({ session: session.id }),
      (m) => weights.get(m) ?? 1,
      (targets) => inScopeTargets(this.host.engine.store, targets, (e) => registry.get(e)?.config),
    );
    const children = new Map<string | null, typeof list>();
    for (const b of list) children.set(b.branch.parent, [...(children.get(b.branch.parent) ?? []), b]);
    const out: BranchItem[] = [];
    const walk = (parent: string | null, depth: number): void => {
      for (const b of children.get(parent) ?? []) {
        out.push({
          id: b.branch.id,
          label: b.branch.label,
          forkSeq: b.branch.forkSeq,
          entries: b.entries,
          checkedOut: b.checkedOut,
          depth,
          changes: describeChanges(b.branch.overrides),
          effects: effectsPolicyOf(session.options, b.branch.overrides),
          score: scores.get(b.branch.id) ?? null,
        });
        walk(b.branch.id, depth + 1);
      }
    };
    walk(null, 0);
    return out;
  }

  /**
   * Forks the open session at an entry (its seq); with `checkout`, this is a rewind: the new branch is checked out
   * and the panels follow it (the session rests until resumed with p).
   */
  fork(atSeq: number, step: string, checkout: boolean): void {
    const id = this.host.store.get().open?.id;
    if (id === undefined) return;
    void this.host.actAsync(async () => {
      const made = await this.host.engine.fork(id, {
        atSeq,
        defaultLabel: checkout ? `rewind to ${step}` : `fork at ${step}`,
        createdBy: 'tui',
        checkout,
      });
      const compensable = made.effects.find((e) => e.compensable);
      const calls = `${made.effects.length} effectful call${made.effects.length === 1 ? '' : 's'}`;
      const tools = made.effects.map((e) => e.tool).join(', ');
      const compensate =
        compensable === undefined
          ? ''
          : `; undo it with: p2tui session compensate ${id} ${compensable.key} (or : in the palette)`;
      const undone = made.effects.length === 0 ? '' : `; ${calls} after that point (${tools}) not undone${compensate}`;
      this.host.store.set((s) =>
        notify(
          s,
          checkout
            ? `rewound to ${step}: branch ${made.branch.id} checked out, p continues it${undone}`
            : `forked at ${step}: branch ${made.branch.id} (b lists branches)${undone}`,
          made.effects.length > 0 ? 'warn' : 'info',
        ),
      );
      this.host.refreshSessions();
    });
  }

  /**
   * Compares two branches of the open session, for the diff overlay: `from` with `to`, or with the checked-out branch
   * when `to` is not given. The same branch twice is refused with a notice (there is nothing to compare).
   */
  diff(from: string, to?: string): Overlay | undefined {
    const id = this.host.store.get().open?.id;
    if (id === undefined) return undefined;
    try {
      const session = this.host.engine.store.sessions.resolve(id);
      const target = to ?? session.headBranch;
      if (from === target) {
        this.host.store.set((s) =>
          notify(s, `${from} is the same branch: mark one with m, then d on another to compare them`, 'warn'),
        );
        return undefined;
      }
      const result = diffBranches(this.host.engine.store, session, from, target);
      const checked = (b: string): string => (b === session.headBranch ? `${b} (checked out)` : b);
      return {
        kind: 'diff',
        title: `${checked(from)} → ${checked(target)}`,
        divergesAt: result.divergesAt,
        sections: result.sections,
        mode: 'side',
        scroll: 0,
      };
    } catch (error) {
      this.host.report(error);
      return undefined;
    }
  }

  /** The open session's artifacts and comparable entries (every branch's with `allBranches`). */
  artifacts(allBranches = false): ArtifactItem[] {
    const id = this.host.store.get().open?.id;
    if (id === undefined) return [];
    try {
      return comparableArtifacts(this.host.engine.store, id, { allBranches });
    } catch (error) {
      this.host.report(error);
      return [];
    }
  }

  /**
   * The start of an artifact's (or entry's) content on one line, for the line under the selected item. Read when an
   * item is first selected, not for the whole list; kept, since artifacts and entries never change.
   */
  preview(ref: string): string {
    let text = this.previews.get(ref);
    if (text === undefined) {
      text = artifactPreview(this.host.engine.store, ref);
      this.previews.set(ref, text);
    }
    return text;
  }

  /** Two artifacts (or entries) compared, for the diff overlay. */
  diffArtifacts(a: ArtifactItem, b: ArtifactItem): Overlay | undefined {
    if (a.ref === b.ref) {
      this.host.store.set((s) => notify(s, 'that is the marked one: d on another item compares the two', 'warn'));
      return undefined;
    }
    try {
      const ops = diffSequences(
        artifactLines(this.host.engine.store, a.ref),
        artifactLines(this.host.engine.store, b.ref),
      );
      const same = ops.every((op) => op.kind === 'same');
      return {
        kind: 'diff',
        title: `${a.label} → ${b.label}`,
        divergesAt: same ? null : 'content',
        sections: same ? [] : [{ title: `${a.ref} → ${b.ref}`, ops }],
        mode: 'side',
        scroll: 0,
      };
    } catch (error) {
      this.host.report(error);
      return undefined;
    }
  }

  /** The fork form's overrides, checked against the workspace's tools; undefined (and the reason shown) if refused. */
  formOverrides(form: ForkForm): BranchOverrides | undefined {
    try {
      return formOverrides(form, targetsOf(this.host.engine).hasTool);
    } catch (error) {
      this.host.report(error);
      return undefined;
    }
  }

  /** Forks at a step with the fork form's overrides and checks the new branch out. */
  forkWith(atSeq: number, step: string, label: string, overrides: BranchOverrides): void {
    const id = this.host.store.get().open?.id;
    if (id === undefined) return;
    void this.host.actAsync(async () => {
      const made = await this.host.engine.fork(id, {
        atSeq,
        ...(label === '' ? { defaultLabel: `fork at ${step}` } : { label }),
        overrides,
        createdBy: 'tui',
        checkout: true,
      });
      const changes = [
        describeChanges(made.branch.overrides),
        ...(overrides.effects === undefined ? [] : [`effects ${overrides.effects}`]),
      ].filter((x) => x !== '');
      this.host.store.set((s) =>
        notify(
          s,
          `forked at ${step} with ${changes.join(' · ') || 'no changes'}: branch ${made.branch.id} checked out, p continues it`,
        ),
      );
      this.host.refreshSessions();
    });
  }

  /** Checks a branch of the open session out; the panels follow it. */
  checkout(branch: string): void {
    const id = this.host.store.get().open?.id;
    if (id === undefined) return;
    void this.host.actAsync(async () => {
      const done = await this.host.engine.checkout(id, branch);
      this.host.store.set((s) =>
        notify(
          s,
          `checked out ${done.branch.id}${done.branch.label === null ? '' : ` (${done.branch.label})`}; session ${done.status}`,
        ),
      );
      this.host.refreshSessions();
    });
  }
}
