import { Text } from 'ink';
import { memo } from 'react';
import { fit, type Line } from '../lines.ts';

/**
 * One line of styled segments, padded or clipped to exactly `width` columns so a frame never wraps or leaves stale
 * characters behind. With colour off (NO_COLOR), only bold, dim and inverse remain.
 */
export const LineView = memo(function LineView({ line, width, color }: { line: Line; width: number; color: boolean }) {
  const segments = fit(line, width);
  return (
    <Text wrap="truncate-end">
      {segments.map((s, i) => (
        <Text
          key={i}
          {...(color && s.color !== undefined ? { color: s.color } : {})}
          bold={s.bold === true}
          dimColor={s.dim === true}
          inverse={s.inverse === true}
        >
          {s.text}
        </Text>
      ))}
    </Text>
  );
});

/** A window of lines: exactly `height` rows (blank rows below the last line). */
export function LinesView({
  lines,
  width,
  height,
  color,
}: {
  lines: readonly Line[];
  width: number;
  height: number;
  color: boolean;
}) {
  const rows: Line[] = [];
  for (let i = 0; i < height; i++) rows.push(lines[i] ?? []);
  return (
    <>
      {rows.map((line, i) => (
        <LineView key={i} line={line} width={width} color={color} />
      ))}
    </>
  );
}
