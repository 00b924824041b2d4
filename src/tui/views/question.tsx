import { seg, wrap, type Line } from '../lines.ts';
import type { SessionProjection } from '../projection.ts';

/**
 * An agent's question (an approval, ask_user) drawn whole above the input, wrapped: the input line keeps its room for
 * the answer, so "(yes/no)" and what is typed are both visible at 80 columns. At most `max` lines (the question's
 * end, where the choices are, is kept).
 */
export function questionLines(open: SessionProjection | null, width: number, max: number): Line[] {
  const question = open?.firstQuestion();
  if (question === undefined) return [];
  const lines = wrap(
    [seg(`${question.agent} asks: `, { bold: true, color: 'yellow' }), seg(question.question, { color: 'yellow' })],
    Math.max(10, width - 2),
    2,
  ).map((l): Line => [seg(' '), ...l]);
  return lines.length <= max ? lines : [[seg(' …', { dim: true })], ...lines.slice(lines.length - max + 1)];
}
