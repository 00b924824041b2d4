import { defineEvaluator } from 'p2tui';

/**
 * A custom evaluator: how much of the final answer rests on what the tools and delegates reported (numbers in the
 * answer that also appear in a tool result or a delegate's answer).
 */
export const grounded = defineEvaluator({
  id: 'grounded',
  version: '1',
  description: 'Share of the numbers in the answer that come from tool results or delegates.',
  evaluate(material) {
    const numbers = material.answer.match(/\d+(?:\.\d+)?/g) ?? [];
    if (numbers.length === 0) return { value: 1, reasoning: 'no numbers to check' };
    const evidence = material.entries
      .flatMap((e) =>
        e.kind === 'tool_result'
          ? [JSON.stringify(e.payload.output ?? '')]
          : e.kind === 'agent_result'
            ? [e.payload.text]
            : [],
      )
      .join(' ');
    const backed = numbers.filter((n) => evidence.includes(n));
    return {
      value: backed.length / numbers.length,
      reasoning: `${backed.length}/${numbers.length} numbers found in tool results or delegates' answers`,
    };
  },
});
