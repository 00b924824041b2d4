import { diffSequences, type DiffOp } from '../../core/diff.ts';
import type { OptionDefs } from '../define.ts';
import { sideBySideLines, unifiedLines } from '../render/diff-view.ts';

/** How the diff commands (`session diff`, `artifacts diff`) lay a diff out: unified, or side by side. */

export const DIFF_OPTIONS = {
  'side-by-side': { type: 'boolean', short: 'y', description: 'Two columns instead of a unified diff' },
  width: {
    type: 'number',
    integer: true,
    min: 20,
    max: 10_000,
    value: '<n>',
    description: 'Width of the side-by-side view (default: the terminal)',
  },
} as const satisfies OptionDefs;

/** The values of DIFF_OPTIONS, as a handler reads them. */
export interface DiffLayout {
  readonly 'side-by-side': boolean;
  readonly width: number | undefined;
}

/** `--side-by-side` and `--width` of the diff commands. */
export function renderDiff(layout: DiffLayout, color: boolean, a: readonly string[], b: readonly string[]): string[] {
  return renderOps(layout, color, diffSequences(a, b));
}

export function renderOps(layout: DiffLayout, color: boolean, ops: readonly DiffOp[]): string[] {
  const width = layout.width ?? process.stdout.columns ?? 120;
  return layout['side-by-side'] ? sideBySideLines(ops, width, color) : unifiedLines(ops, color);
}
