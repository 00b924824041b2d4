import { UserError, unknownIdHint } from '../../core/errors.ts';
import { diffSequences, normalizeForDiff, splitLines } from '../../core/diff.ts';
import type { Store } from '../../store/store.ts';
// Pure (the core only): the TUI calls artifactLines and comparableArtifacts synchronously.
import { branchEntries } from '../../engine/branching.ts';
import { defineCommand } from '../define.ts';
import { formatAge, table } from '../render/text.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT, type CommandResult } from '../types.ts';
import { DIFF_OPTIONS, renderOps } from './diff-options.ts';
import { terminalText } from '../../core/terminal-text.ts';

/**
 * An entry's content as an artifact (messages and model output are inspected through their log entries, never
 * copied): the text of a message, the output of a tool result, the arguments of a call, else the payload.
 */
function entryArtifact(store: Store, id: string): { hash: string; mime: string; data: Buffer } | undefined {
  const event = store.log.get(id);
  if (event === undefined || event.type !== 'entry') return undefined;
  const payload = event.payload as Record<string, unknown>;
  const text = typeof payload['text'] === 'string' ? payload['text'] : undefined;
  const body =
    text ??
    JSON.stringify(
      event.kind === 'tool_result'
        ? (payload['output'] ?? payload['error'] ?? null)
        : event.kind === 'tool_call'
          ? payload['args']
          : payload,
    );
  return { hash: id, mime: text === undefined ? 'application/json' : 'text/plain', data: Buffer.from(body, 'utf8') };
}

/**
 * An artifact from a unique prefix of its hash, or an entry (`e_…`) as one. Given a session (`artifacts diff
 * <session> <a> <b>`), only that session's artifacts and entries count, so a short prefix is enough.
 */
function resolveArtifact(
  store: Store,
  ref: string,
  session?: { readonly id: string },
): { hash: string; mime: string; data: Buffer } {
  if (ref.startsWith('e_')) {
    const entry = entryArtifact(store, ref);
    if (entry === undefined)
      throw new UserError('E_UNKNOWN_ARTIFACT', `no entry '${ref}' in this database`, {
        hint: 'Entry ids are shown by p2tui artifacts list <session> --entries and session stack --json.',
      });
    if (session !== undefined && store.log.get(ref)?.session !== session.id)
      throw new UserError('E_USAGE', `entry '${ref}' is not in session ${session.id}`, {
        hint: `Its entries: p2tui artifacts list ${session.id} --entries --all-branches`,
      });
    return entry;
  }
  const hashes =
    session === undefined
      ? store.artifacts.resolve(ref)
      : [...new Set(store.artifacts.list(session.id).map((a) => a.hash))].filter((h) => h.startsWith(ref));
  const where = session === undefined ? 'in this database' : `in session ${session.id}`;
  if (hashes.length === 0) {
    // Near misses: the session's hashes, or (in the whole database) those that start as the given one does.
    const known =
      session === undefined
        ? store.artifacts.resolve(ref.slice(0, 2))
        : [...new Set(store.artifacts.list(session.id).map((a) => a.hash))];
    throw new UserError('E_UNKNOWN_ARTIFACT', `no artifact '${ref}' ${where}`, {
      hint: unknownIdHint(ref, known, `p2tui artifacts list ${session?.id ?? '<session>'}`),
    });
  }
  if (hashes.length > 1)
    throw new UserError('E_AMBIGUOUS_ID', `'${ref}' matches several artifacts: ${hashes.join(', ')}`, {
      hint: 'Give more characters of the hash.',
    });
  return store.artifacts.get(hashes[0]!)!;
}

function isText(data: Buffer): boolean {
  return !data.subarray(0, 8000).includes(0);
}

/** An artifact's (or entry's) text for diffing: JSON normalised, binary refused. */
export function artifactLines(store: Store, ref: string): string[] {
  const artifact = resolveArtifact(store, ref);
  if (!isText(artifact.data))
    throw new UserError('E_USAGE', `${ref} is binary (${artifact.data.length} bytes): nothing to compare line by line`);
  return splitLines(normalizeForDiff(artifact.data.toString('utf8'), artifact.mime.includes('json')));
}

/**
 * What can be compared in a session: its blobs, then its checked-out branch's messages, calls and results. With
 * `allBranches` (as `artifacts list --entries --all-branches`), every branch's, each entry once under the branch that
 * wrote it, labelled with that branch.
 */
export function comparableArtifacts(
  store: Store,
  sessionId: string,
  options: { readonly allBranches?: boolean } = {},
): { ref: string; label: string }[] {
  const session = store.sessions.resolve(sessionId);
  const out = store.artifacts
    .list(session.id)
    .map((a) => ({ ref: a.hash, label: `${a.name} (${a.kind}, ${a.size} B)` }));
  const paths = new Map(store.sessions.conversations(session.id).map((c) => [c.id, c.path]));
  const branches = options.allBranches === true ? store.sessions.branches(session.id) : [];
  const names = new Map(branches.map((b) => [b.id, b.label === null ? b.id : `${b.id} ${b.label}`]));
  const entries =
    options.allBranches === true
      ? [
          ...new Map(branches.flatMap((b) => branchEntries(store, session.id, b.id)).map((e) => [e.id, e])).values(),
        ].sort((x, y) => x.seq - y.seq)
      : branchEntries(store, session.id, session.headBranch);
  for (const e of entries) {
    if (!['assistant_message', 'tool_result', 'agent_result'].includes(e.kind)) continue;
    const where = options.allBranches === true ? ` [${names.get(e.branch) ?? e.branch}]` : '';
    out.push({ ref: e.id, label: `${paths.get(e.conversation) ?? e.conversation} ${e.kind}${where}` });
  }
  return out;
}

/** The start of an artifact's (or entry's) text on one line, for a preview; '' when binary or unreadable. */
export function artifactPreview(store: Store, ref: string, width = 200): string {
  try {
    const artifact = resolveArtifact(store, ref);
    if (!isText(artifact.data)) return '';
    return terminalText(
      artifact.data
        .subarray(0, width * 4)
        .toString('utf8')
        .replace(/\s+/g, ' ')
        .trim(),
    ).slice(0, width);
  } catch {
    return '';
  }
}

export const artifactsListCommand = defineCommand({
  path: ['artifacts', 'list'],
  summary: "A session's artifacts (tool outputs, files tools wrote, large payloads): hash, name, kind, size",
  args: {
    session: SESSION_ARG,
  },
  options: {
    entries: {
      type: 'boolean',
      description: "Also list the checked-out branch's messages, tool calls and results (by entry id)",
    },
    'all-branches': {
      type: 'boolean',
      description:
        "With --entries: every branch's entries (each once, on the branch that wrote it), not only the checked-out one",
    },
  },
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args.session);
    const refs = [...store.artifacts.list(session.id)];
    const all = input.options['all-branches'];
    if (all && !input.options.entries)
      throw new UserError('E_USAGE', '--all-branches lists entries: give it with --entries', {
        hint: `p2tui artifacts list ${session.id} --entries --all-branches`,
      });
    const branches = all ? store.sessions.branches(session.id).map((b) => b.id) : [session.headBranch];
    const labels = new Map(store.sessions.branches(session.id).map((b) => [b.id, b.label ?? b.id]));
    if (input.options.entries) {
      const paths = new Map(store.sessions.conversations(session.id).map((c) => [c.id, c.path]));
      // A branch sees its ancestors' entries up to its fork point: each entry is listed once, under the branch that
      // wrote it, in the log's order.
      const byId = new Map(branches.flatMap((b) => branchEntries(store, session.id, b)).map((e) => [e.id, e]));
      const entries = [...byId.values()].sort((x, y) => x.seq - y.seq);
      for (const e of entries) {
        if (!['user_message', 'assistant_message', 'tool_call', 'tool_result', 'agent_result'].includes(e.kind))
          continue;
        const artifact = entryArtifact(store, e.id)!;
        refs.push({
          id: e.id,
          hash: e.id,
          session: session.id,
          branch: e.branch,
          conversation: e.conversation,
          entry: e.id,
          kind: e.kind,
          name: paths.get(e.conversation) ?? e.conversation,
          mime: artifact.mime,
          size: artifact.data.length,
          createdAt: e.ts,
        });
      }
    }
    const json = refs.map((r) => ({
      hash: r.hash,
      name: r.name,
      kind: r.kind,
      mime: r.mime,
      size: r.size,
      branch: r.branch,
      conversation: r.conversation,
      entry: r.entry,
      createdAt: new Date(r.createdAt).toISOString(),
    }));
    if (ctx.output.json) return { exitCode: EXIT.ok, json };
    if (refs.length === 0) {
      ctx.output.line(
        `session ${session.id} has no artifacts (tools create them with ctx.attach, and outputs over 16 KB become one)`,
      );
      return { exitCode: EXIT.ok, json };
    }
    const rows = refs.map((r) => [
      r.hash.startsWith('e_') ? r.hash : r.hash.slice(0, 12),
      ...(all ? [r.branch === null ? '' : (labels.get(r.branch) ?? r.branch)] : []),
      r.name,
      r.kind,
      r.mime,
      `${r.size} B`,
      formatAge(ctx.clock.now() - r.createdAt),
    ]);
    const header = ['hash', ...(all ? ['branch'] : []), 'name', 'kind', 'mime', 'size', 'created'];
    for (const line of table(rows, header, ctx.output.color)) ctx.output.line(line);
    return { exitCode: EXIT.ok, json };
  },
});

export const artifactsShowCommand = defineCommand({
  path: ['artifacts', 'show'],
  summary: 'Print an artifact (text with control characters shown, not obeyed; binary as a summary; --raw: its bytes)',
  args: {
    hash: { description: 'The hash or a unique prefix of it', required: true },
  },
  options: {
    raw: {
      type: 'boolean',
      description: 'Write the stored bytes unchanged, escape sequences and binary included (for a pipe or a file)',
    },
  },
  examples: ['p2tui artifacts show 3f2a --raw > output.txt'],
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const artifact = resolveArtifact(store, input.args.hash);
    if (input.options.raw && !ctx.output.json) {
      if (ctx.output.bytes === undefined)
        throw new UserError('E_USAGE', 'artifacts show --raw writes bytes to stdout; it does not run here', {
          hint: `Run it in a shell: p2tui artifacts show ${artifact.hash.slice(0, 12)} --raw > file`,
        });
      ctx.output.bytes(artifact.data);
      return { exitCode: EXIT.ok };
    }
    const text = isText(artifact.data) ? artifact.data.toString('utf8') : undefined;
    if (ctx.output.json)
      return {
        exitCode: EXIT.ok,
        json: { hash: artifact.hash, mime: artifact.mime, size: artifact.data.length, text: text ?? null },
      };
    if (text === undefined)
      ctx.output.line(`${artifact.hash}: ${artifact.mime}, ${artifact.data.length} bytes of binary data`);
    // A tool's output, shown and not obeyed (--json has the exact text).
    else for (const line of splitLines(text)) ctx.output.line(terminalText(line));
    return { exitCode: EXIT.ok };
  },
});

export const artifactsDiffCommand = defineCommand({
  path: ['artifacts', 'diff'],
  summary:
    'Diff two artifacts (or entries, by e_ id): unified or side by side, changed words highlighted, JSON compared by content',
  args: {
    a: {
      description: 'Hash (or prefix) of the first artifact, or an entry id (e_…); or a session (id, prefix, "last")',
      required: true,
    },
    b: { description: 'Hash (or prefix) of the second, or an entry id (the first, after a session)', required: true },
    c: { description: 'After a session: the second artifact (hash, prefix or entry id of that session)' },
  },
  options: DIFF_OPTIONS,
  examples: ['p2tui artifacts diff 3f2a 9bc1', 'p2tui artifacts diff last e_b3c657m e_k2v9q1x --side-by-side'],
  async run(ctx, input): Promise<CommandResult> {
    const store = await ctx.store({ existing: true });
    // Three words: the session first, as `artifacts list <session>` takes it, and two of its artifacts or entries.
    const session = input.args.c === undefined ? undefined : store.sessions.resolve(input.args.a);
    const [refA, refB] = input.args.c === undefined ? [input.args.a, input.args.b] : [input.args.b, input.args.c];
    const a = resolveArtifact(store, refA, session);
    const b = resolveArtifact(store, refB, session);
    if (!isText(a.data) || !isText(b.data)) {
      const same = a.hash === b.hash;
      if (!ctx.output.json)
        ctx.output.line(same ? 'identical' : `binary artifacts differ (${a.data.length} and ${b.data.length} bytes)`);
      return { exitCode: same ? EXIT.ok : EXIT.failed, json: { same } };
    }
    // JSON is compared by content (sorted keys, one value per line) when both sides are JSON.
    const json = a.mime.includes('json') && b.mime.includes('json');
    const left = splitLines(normalizeForDiff(a.data.toString('utf8'), json));
    const right = splitLines(normalizeForDiff(b.data.toString('utf8'), json));
    const ops = diffSequences(left, right);
    const same = ops.every((op) => op.kind === 'same');
    const lines = same ? [] : renderOps(input.options, ctx.output.color, ops);
    if (ctx.output.json) return { exitCode: same ? EXIT.ok : EXIT.failed, json: { same, diff: lines } };
    if (same) ctx.output.line('identical');
    for (const line of lines) ctx.output.line(line);
    return { exitCode: same ? EXIT.ok : EXIT.failed };
  },
});
