import { defineTool, z } from 'p2tui';

/** Arithmetic on + - * / % ^ and parentheses, parsed by hand (no eval). */
export const calculate = defineTool({
  name: 'calculate',
  description:
    'Evaluate an arithmetic expression: totals, sums, products, percentages, calculations with + - * / ^ and parentheses.',
  input: z.object({ expression: z.string().min(1).describe('For example (120 + 80) * 0.9') }),
  effect: 'pure',
  run({ expression }) {
    const value = evaluate(expression);
    return { expression, value, summary: `${expression.trim()} = ${value}` };
  },
});

function evaluate(text: string): number {
  const tokens = text.match(/\d+(?:\.\d+)?|[-+*/%^()]/g) ?? [];
  if (tokens.join('') !== text.replace(/\s+/g, ''))
    throw new Error(`cannot read '${text}': use numbers, + - * / % ^ and parentheses`);
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const expr = (): number => {
    let v = term();
    while (peek() === '+' || peek() === '-') v = tokens[i++] === '+' ? v + term() : v - term();
    return v;
  };
  const term = (): number => {
    let v = power();
    while (peek() === '*' || peek() === '/' || peek() === '%') {
      const op = tokens[i++];
      const r = power();
      if (op !== '*' && r === 0) throw new Error('division by zero');
      v = op === '*' ? v * r : op === '/' ? v / r : v % r;
    }
    return v;
  };
  const power = (): number => {
    const base = unary();
    if (peek() === '^') {
      i++;
      return base ** power();
    }
    return base;
  };
  const unary = (): number => {
    if (peek() === '-') {
      i++;
      return -unary();
    }
    if (peek() === '(') {
      i++;
      const v = expr();
      if (tokens[i++] !== ')') throw new Error('missing )');
      return v;
    }
    const t = tokens[i++];
    if (t === undefined || Number.isNaN(Number(t))) throw new Error(`unexpected '${t ?? 'end of expression'}'`);
    return Number(t);
  };
  const value = expr();
  if (i !== tokens.length) throw new Error(`unexpected '${tokens[i]}'`);
  return Math.round(value * 1e10) / 1e10;
}
