import type { Entry, EntryDraft } from '../core/entries.ts';
import { describeEntry } from '../core/describe-entry.ts';
import { seg, wrap, type Line, type Segment } from './lines.ts';
import type { ConversationView, SessionProjection } from './projection.ts';
import { entryText, flattenItems, pretty, type PaneItem } from './detail.ts';

/**
 * What each pane shows, as lines for a given width: pure functions over the projection, plus a cache that turns the
 * conversation timeline into lines incrementally (new entries are wrapped once; a resize rewraps).
 */
export function timelineLines(
  item: { readonly agent: string; readonly depth: number; readonly entry: EntryDraft },
  width: number,
): Line[] {
  const indent = Math.min(item.depth * 2, Math.max(0, width - 20));
  const pad = ' '.repeat(indent);
  const who = seg(`${item.agent} `, { bold: true, color: item.depth === 0 ? 'cyan' : 'magenta' });
  const body = (segments: Segment[], hang = 2): Line[] => wrap([seg(pad), ...segments], width, indent + hang);
  const e = item.entry;
  switch (e.kind) {
    case 'user_message':
      return item.depth === 0
        ? body([seg('you ', { bold: true, color: 'green' }), seg(e.payload.text)])
        : body([who, seg('task: ', { dim: true }), seg(e.payload.text)]);
    case 'assistant_message':
      return body([who, seg(e.payload.text)]);
    case 'tool_call':
      return body([
        who,
        seg(`→ ${e.payload.tool} `, { color: 'cyan' }),
        seg(JSON.stringify(e.payload.args), { dim: true }),
      ]);
    case 'tool_result': {
      const ok = e.payload.status === 'ok';
      const detail = ok ? summaryOf(e.payload.output) : (e.payload.error ?? e.payload.status);
      // A dry-run branch's call says so, as the CLI does: its result was simulated, or nothing ran.
      const tag = `${e.payload.status}${e.payload.cached === true ? ', cached' : ''}${e.payload.simulated === true ? ', simulated' : ''}`;
      return body([
        who,
        seg(`← ${e.payload.tool} `, { color: ok ? 'green' : 'red' }),
        seg(`(${tag}) `, { dim: true }),
        seg(detail),
      ]);
    }
    case 'agent_call':
      return body([who, seg(`⇢ delegate to ${e.payload.agent}: `, { color: 'magenta' }), seg(e.payload.message)]);
    case 'agent_result':
      return body([
        who,
        seg(`⇠ ${e.payload.agent}${e.payload.status === 'ok' ? '' : ` (${e.payload.status})`}: `, {
          color: e.payload.status === 'ok' ? 'magenta' : 'red',
        }),
        seg(e.payload.status === 'ok' ? e.payload.text : (e.payload.error ?? e.payload.status)),
      ]);
    case 'user_input_request':
      return body([who, seg('? asks: ', { color: 'yellow', bold: true }), seg(e.payload.question)]);
    case 'user_response':
      return body([
        who,
        seg(`← answer${e.payload.by === 'user' ? '' : ` (${e.payload.by})`}: `, { color: 'yellow' }),
        seg(e.payload.text),
      ]);
    case 'finished':
      return body([
        who,
        seg(`✓ finished (${e.payload.steps} step${e.payload.steps === 1 ? '' : 's'})`, {
          color: 'green',
          dim: item.depth > 0,
        }),
      ]);
    case 'failed':
      return body([
        who,
        seg(`✗ ${e.payload.code}: ${e.payload.message}`, { color: 'red' }),
        ...(e.payload.hint === undefined ? [] : [seg(` — ${e.payload.hint}`, { dim: true })]),
      ]);
    case 'waiting':
      return [];
  }
}

/** The conversation pane's lines for one width, appended to as the timeline grows. */
export class TimelineLines {
  lines: Line[] = [];
  /** Where each entry's lines start: the conversation's selectable rows. */
  items: PaneItem[] = [];
  private width = -1;
  private rendered = 0;
  private dropped = 0;

  /** Brings the lines up to date with the projection; returns them. O(new entries), or O(all) after a resize. */
  update(projection: SessionProjection, width: number): Line[] {
    if (width !== this.width || projection.dropped !== this.dropped) {
      this.width = width;
      this.dropped = projection.dropped;
      this.rendered = 0;
      this.items = [];
      this.lines =
        projection.dropped > 0
          ? [[seg(`… ${projection.dropped} earlier entries (see p2tui session stack ${projection.id})`, { dim: true })]]
          : [];
    }
    const timeline = projection.timeline;
    for (let i = this.rendered; i < timeline.length; i++) {
      const item = timeline[i]!;
      this.items.push({
        line: this.lines.length,
        title: `${item.agent} · ${item.entry.kind}`,
        text: () => entryText(item.entry),
      });
      for (const line of timelineLines(item, width)) this.lines.push(line);
    }
    this.rendered = timeline.length;
    return this.lines;
  }
}

/** Lines of replies still streaming, shown under the timeline. */
export function streamingLines(projection: SessionProjection, width: number): Line[] {
  const out: Line[] = [];
  for (const [conversation, { text }] of projection.streaming) {
    const conv = projection.conversations.get(conversation);
    if (conv === undefined) continue;
    out.push(
      ...timelineLines(
        {
          agent: conv.agent,
          depth: conv.depth,
          entry: { kind: 'assistant_message', payload: { text: `${text}▍`, modelCall: '' } },
        },
        width,
      ),
    );
  }
  return out;
}

/** The frame stack: conversations as a tree, the working ones marked, the selected one highlighted. */
export function frameLines(projection: SessionProjection, selected: string | null): Line[] {
  return projection.order.map((id) => {
    const conv = projection.conversations.get(id)!;
    const active = projection.isActive(conv);
    const marker = active ? seg('▶ ', { color: 'yellow' }) : seg('  ');
    const label = seg(`${'  '.repeat(conv.depth)}${conv.agent}`, { bold: id === selected, inverse: id === selected });
    return [
      marker,
      label,
      seg(` ${phaseLabel(conv)}`, { color: phaseColor(conv), dim: conv.state.phase === 'finished' }),
    ];
  });
}

/**
 * The interaction stack of one conversation: every entry with its index and the state it left, one row each (cut at
 * the pane's width), or wrapped to `wrapWidth` (w).
 */
export function stackItems(
  conv: ConversationView | undefined,
  wrapWidth: number | null,
): { lines: Line[]; items: PaneItem[] } {
  if (conv === undefined) return { lines: [[seg('no conversation selected', { dim: true })]], items: [] };
  return flattenItems(
    conv.entries.map((e, i) => {
      const line: Line = [
        seg(`#${String(i).padEnd(3)} `, { dim: true }),
        seg(e.kind.padEnd(19), { color: kindColor(e.kind) }),
        seg(describeEntry(e).replace(/\s+/g, ' ')),
      ];
      return {
        lines: wrapWidth === null ? [line] : wrap(line, wrapWidth, 24),
        title: `${conv.agent} #${i} · ${e.kind}`,
        text: () => entryText(e),
      };
    }),
  );
}

/** The session's events, one row each (or wrapped to `wrapWidth`): seq, type, text. */
export function eventItems(
  projection: SessionProjection,
  wrapWidth: number | null,
): { lines: Line[]; items: PaneItem[] } {
  return flattenItems(
    projection.events.map((e) => {
      const line: Line = [
        seg(`${String(e.seq).padStart(5)} `, { dim: true }),
        // Fixed width: a long type is cut, not pushing the text.
        seg(`${(e.type.length > 18 ? `${e.type.slice(0, 17)}…` : e.type).padEnd(18)} `, { color: 'blue' }),
        seg(e.text),
      ];
      return {
        lines: wrapWidth === null ? [line] : wrap(line, wrapWidth, 25),
        title: `event ${e.seq} · ${e.type}`,
        text: () => `${new Date(e.ts).toISOString()}\n\n${pretty(e.text)}`,
      };
    }),
  );
}

/** One row per evaluator and target: score, a bar, who judged; with `detail`, each criterion and the reason. */
export function judgeItems(
  projection: SessionProjection,
  detail: boolean,
  width: number,
): { lines: Line[]; items: PaneItem[] } {
  if (projection.scores.size === 0)
    return { lines: [[seg('no scores yet (evaluators: judge.evaluators in p2tui.yaml)', { dim: true })]], items: [] };
  const name = Math.min(14, Math.max(...[...projection.scores.values()].map((v) => v.evaluator.length)));
  return flattenItems(
    [...projection.scores.values()].map((v) => {
      const ok = v.values.filter((x): x is number => x !== null);
      const mean = ok.length === 0 ? null : ok.reduce((a, b) => a + b, 0) / ok.length;
      const judge = v.model === 'scripted/judge' ? 'scripted judge' : (v.model ?? '');
      const value =
        v.pending && v.values.length === 0
          ? seg('judging…', { dim: true })
          : mean === null
            ? seg('judge failed', { color: 'red' })
            : seg(`${mean.toFixed(2)}${ok.length > 1 ? `±${spread(ok).toFixed(2)}` : ''} ${bar(mean)}`, {
                color: mean >= 0.7 ? 'green' : mean >= 0.4 ? 'yellow' : 'red',
              });
      const target = projection.targetLabel(v.target);
      const out: Line[] = [
        [
          seg(`${v.evaluator.padEnd(name)} `, { bold: true }),
          value,
          seg(
            `  ${target}${judge === '' ? '' : ` · ${judge}`}${v.pending && v.values.length > 0 ? ' · judging again' : ''}`,
            { dim: true },
          ),
        ],
      ];
      if (detail) {
        if (v.criteria.length === 0 && v.reasoning !== '')
          out.push(...wrap([seg(`  ${v.reasoning}`, { dim: true })], width));
        for (const c of v.criteria)
          out.push(
            ...wrap(
              [
                seg(`  ${c.id} `),
                seg(c.score === null ? '–' : c.score.toFixed(2)),
                seg(`  ${c.reason}`, { dim: true }),
              ],
              width,
            ),
          );
      }
      const text = (): string =>
        [
          `${v.evaluator} on ${target}${judge === '' ? '' : ` (${judge})`}`,
          `score ${mean === null ? '–' : mean.toFixed(2)} · values ${v.values.map((x) => (x === null ? '–' : x.toFixed(2))).join(', ')}`,
          ...v.criteria.map((c) => `${c.id} ${c.score === null ? '–' : c.score.toFixed(2)}: ${c.reason}`),
          ...(v.reasoning === '' ? [] : ['', pretty(v.reasoning)]),
        ].join('\n');
      return { lines: out, title: `score · ${v.evaluator}`, text };
    }),
  );
}

function bar(value: number): string {
  const cells = Math.round(value * 8);
  return '█'.repeat(cells) + '·'.repeat(8 - cells);
}

function spread(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, values.length - 1));
}

function phaseLabel(conv: ConversationView): string {
  const waiting = conv.state.turn.filter((c) => !c.settled).length;
  return conv.state.phase === 'waiting' ? `waiting on ${waiting}` : conv.state.phase;
}

function phaseColor(conv: ConversationView): Segment['color'] {
  switch (conv.state.phase) {
    case 'finished':
      return 'green';
    case 'failed':
      return 'red';
    case 'waiting':
      return 'yellow';
    default:
      return 'cyan';
  }
}

function kindColor(kind: Entry['kind']): Segment['color'] {
  if (kind === 'failed') return 'red';
  if (kind === 'finished') return 'green';
  if (kind === 'waiting') return 'gray';
  if (kind.endsWith('_call') || kind === 'user_input_request') return 'cyan';
  return 'blue';
}

function summaryOf(output: unknown): string {
  if (
    output !== null &&
    typeof output === 'object' &&
    'summary' in output &&
    typeof (output as { summary: unknown }).summary === 'string'
  )
    return (output as { summary: string }).summary;
  return typeof output === 'string' ? output : JSON.stringify(output);
}
