import { useTui } from '../hooks.ts';
import { seg, wrap, type Line } from '../lines.ts';
import { Frame } from './frame.tsx';

/** One entry, event or score in full (Enter on a pane's row): wrapped to the width, scrollable, JSON pretty-printed. */
export function DetailOverlay({ width, height }: { width: number; height: number }) {
  const overlay = useTui((s) => (s.overlay?.kind === 'detail' ? s.overlay : undefined));
  if (overlay === undefined) return null;
  // Line by line, so each line's indentation (pretty-printed JSON) stays; continuation rows keep it too.
  const lines: Line[] = overlay.text
    .split('\n')
    .flatMap((l) => wrap([seg(l)], width, Math.min(l.length - l.trimStart().length + 2, Math.floor(width / 2))));
  return (
    <Frame
      title={`${overlay.title} (y copies, / searches, Esc closes)`}
      lines={lines}
      width={width}
      height={height}
      scroll={overlay.scroll}
      geometryId="detail"
    />
  );
}
