import { useTui } from '../hooks.ts';
import { seg, wrap, type Line, type Segment } from '../lines.ts';
import {
  FORK_FIELDS,
  currentTarget,
  describeForm,
  fieldText,
  isChoiceField,
  isSettingField,
  settingText,
  targetName,
  type ForkForm,
} from '../fork-form.ts';
import { Frame } from './frame.tsx';

/** Width of the field names' column ("› " and the indented "system prompt"). */
const LABEL = 18;

/** What the line under the fields says of the field being edited. */
function fieldHint(form: ForkForm): Segment[] {
  const who = targetName(currentTarget(form));
  switch (form.field) {
    case 0:
      return [
        seg('← → whom model, temperature, system prompt and tools apply to: '),
        ...form.targets.flatMap((t, i) => [
          ...(i === 0 ? [] : [seg(' · ')]),
          seg(targetName(t), i === form.target ? { inverse: true, bold: true } : {}),
        ]),
      ];
    case 1:
      return [seg(`model for ${who}: provider/name, e.g. scripted/default (empty: unchanged)`)];
    case 2:
      return [seg(`temperature for ${who}: 0 to 2 (empty: unchanged)`)];
    case 3:
      return [seg(`system prompt for ${who}: {{id}} and {{description}} work as in persona files (empty: unchanged)`)];
    case 4:
      return [seg(`tools for ${who}: comma-separated, e.g. calculate,notes (empty: unchanged)`)];
    case 5:
      return [
        seg('← → what effectful tool calls do on the new branch: live runs them, dry-run does not run them, '),
        seg(`ask waits for approval (session: ${form.sessionEffects})`),
      ];
    default:
      return [seg(`a name for the branch (empty: fork at ${form.step})`)];
  }
}

/** A text field's value with the cursor, scrolled sideways so the cursor stays within `room` columns. */
function textWithCursor(value: string, cursor: number, room: number): Segment[] {
  const start = Math.max(0, cursor + 1 - Math.max(2, room));
  const shown = value.slice(start, start + Math.max(2, room));
  const at = cursor - start;
  return [
    seg(start > 0 ? `…${shown.slice(1, at)}` : shown.slice(0, at)),
    seg(shown[at] ?? ' ', { inverse: true }),
    seg(shown.slice(at + 1)),
  ];
}

/**
 * The fork form. Whom the settings apply to is the first field, and the four settings are indented under it; each
 * setting row also shows the values other targets were given, and the summary line what the fork will write.
 */
export function ForkFormOverlay({ width, height }: { width: number; height: number }) {
  const form = useTui((s) => (s.overlay?.kind === 'fork-form' ? s.overlay : undefined));
  if (form === undefined) return null;
  const target = currentTarget(form);
  const lines: Line[] = [[seg(`Fork at ${form.step} and check the new branch out, with:`, { bold: true })], []];
  FORK_FIELDS.forEach((name, i) => {
    const active = i === form.field;
    const label = seg(`${active ? '›' : ' '} ${(isSettingField(i) ? `  ${name}` : name).padEnd(LABEL - 2)}`, {
      bold: active,
    });
    if (isChoiceField(i)) {
      const value = i === 0 ? targetName(target) : form.effects;
      const warn = i !== 0 && value !== 'live';
      lines.push([
        label,
        seg(`‹ ${value} ›`, { bold: true, inverse: active, ...(warn ? { color: 'yellow' } : {}) }),
        ...(i !== 0 && form.effects === form.sessionEffects ? [seg('  the session’s policy', { dim: true })] : []),
      ]);
      return;
    }
    const value = fieldText(form, i);
    // Values given to the other targets stay visible beside this target's.
    const others = isSettingField(i)
      ? form.targets
          .filter((t) => t !== target && settingText(form, t, i).trim() !== '')
          .map((t) => `${targetName(t)} ${i === 3 ? '(set)' : settingText(form, t, i).trim()}`)
      : [];
    const also = others.length === 0 ? [] : [seg(`   also ${others.join(' · ')}`, { dim: true })];
    const room = width - LABEL - 1 - (others.length === 0 ? 0 : Math.min(30, lineLength(also)));
    lines.push([
      label,
      ...(active ? textWithCursor(value, form.cursor, room) : [seg(value === '' ? '—' : value, { dim: value === '' })]),
      ...also,
    ]);
  });
  lines.push(
    [],
    ...wrap(fieldHint(form), width - 4)
      .slice(0, 2)
      .map((l) => [seg('    '), ...l.map((x) => ({ ...x, dim: true }))]),
  );
  const summary = describeForm(form);
  lines.push(
    [],
    ...wrap(
      [seg('This fork: ', { bold: true }), seg(summary === '' ? 'no changes yet (a plain fork)' : summary)],
      width,
    ).slice(0, 2),
    [seg('Tab/↓ next field · S-Tab/↑ previous · ← → choose · Enter fork · Esc cancel', { dim: true })],
  );
  return (
    <Frame title="Fork with other settings" lines={lines} width={width} height={Math.min(height, lines.length + 2)} />
  );
}

const lineLength = (line: readonly Segment[]): number => line.reduce((n, s) => n + s.text.length, 0);
