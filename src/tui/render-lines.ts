import type { Entry, EntryDraft } from '../core/entries.ts';
import { describeEntry } from '../commands/render/describe.ts';
import { seg, wrap, type Line, type Segment } from './lines.ts';
import type { ConversationView, SessionProjection } from './projection.ts';

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
  private width = -1;
  private rendered = 0;
  private dropped = 0;

  /** Brings the lines up to date with the projection; returns them. O(new entries), or O(all) after a resize. */
  update(projection: SessionProjection, width: number): Line[] {
    if (width !== this.width || projection.dropped !== this.dropped) {
      this.width = width;
      this.dropped = projection.dropped;
      this.rendered = 0;
      this.lines =
        projection.dropped > 0
          ? [[seg(`… ${projection.dropped} earlier entries (see p2tui session stack ${projection.id})`, { dim: true })]]
          : [];
    }
    const timeline = projection.timeline;
    for (let i = this.rendered; i < timeline.length; i++) {
      for (const line of timelineLines(timeline[i]!, width)) this.lines.push(line);
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

/** The interaction stack of one conversation: every entry with its index and the state it left. */
export function stackLines(conv: ConversationView | undefined): Line[] {
  if (conv === undefined) return [[seg('no conversation selected', { dim: true })]];
  return [
    ...conv.entries.map((e, i): Line => [
      seg(`#${String(i).padEnd(3)} `, { dim: true }),
      seg(e.kind.padEnd(19), { color: kindColor(e.kind) }),
      seg(describeEntry(e).replace(/\s+/g, ' ')),
    ]),
  ];
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
