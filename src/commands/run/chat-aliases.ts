import type { Command } from '../types.ts';
import { chatCommand } from './chat.ts';

/**
 * P2Engine's spellings of chat: `chat with <agent>` is `chat <agent>`, `chat resume <session>` is
 * `chat --session <session>`. They run chat itself, with its options (but --session, which the words replace).
 */

const options = chatCommand.options.filter((o) => o.name !== 'session');

export const chatWithCommand: Command = {
  path: ['chat', 'with'],
  summary: 'Talk with an agent turn by turn (P2Engine’s name for: p2tui chat <agent>)',
  details: chatCommand.details ?? '',
  args: [{ name: 'agent', description: 'The persona to talk to', required: true }],
  options,
  examples: ['p2tui chat with agent_alpha', 'p2tui chat with lead --temperature 0.2'],
  run: (ctx, input) => chatCommand.run(ctx, { args: { agent: input.args['agent'] }, options: input.options }),
};

export const chatResumeCommand: Command = {
  path: ['chat', 'resume'],
  summary: 'Continue the chat of a session (P2Engine’s name for: p2tui chat --session <session>)',
  details: chatCommand.details ?? '',
  args: [{ name: 'session', description: 'Session id, unique prefix, or "last"', required: true }],
  options,
  examples: ['p2tui chat resume last', 'p2tui chat resume s_1a2b'],
  run: (ctx, input) =>
    chatCommand.run(ctx, { args: {}, options: { ...input.options, session: input.args['session'] } }),
};
