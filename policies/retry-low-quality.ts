import { defineScorePolicy } from 'p2tui';

/**
 * The adaptation hook, by example: when the quality judge scores a session's answer under 0.4, try once more from
 * the last message, on a new branch at a higher temperature (the old branch stays; `p2tui eval top` compares them).
 */
export const retryLowQuality = defineScorePolicy({
  id: 'retry-low-quality',
  description: 'Retries a branch once, warmer, when its quality score is under 0.4.',
  when: (score) => score.evaluator === 'quality' && score.root && score.value !== null && score.value < 0.4,
  async act(score, actions) {
    if (actions.attempts >= 1) {
      actions.note(`quality ${score.value?.toFixed(2)} is still under 0.4 after a retry; leaving it`);
      return;
    }
    await actions.retry({ temperature: 0.9 });
  },
});
