import { UserError, suggest } from '../core/errors.ts';
import { GROUP_ALIASES } from './groups.ts';
import type { CommandInfo } from './find.ts';

/**
 * What to say when the words of a command line name no command (`p2tui session lst`): the word that went wrong and
 * the nearest command, found among the registry's commands (so commands added later are suggested too).
 */

/** Words the CLI itself answers, besides the registry's commands. */
export const CLI_WORDS: readonly string[] = ['help', 'version'];

/** The first words of the registry's commands and groups, with the group aliases and the CLI's own words. */
function firstWords(commands: readonly CommandInfo[]): string[] {
  return [...new Set([...commands.map((c) => c.path[0]!), ...Object.keys(GROUP_ALIASES), ...CLI_WORDS])];
}

/**
 * The error for command words that name no command: `unknown command 'session lst'`, naming the words up to the
 * first one no command has there, with the nearest command at that place and where its group's help is.
 */
export function unknownCommand(words: readonly string[], commands: readonly CommandInfo[]): UserError {
  const normalized = words.map((w, i) => (i === 0 ? (GROUP_ALIASES[w] ?? w) : w));
  // How many leading words some command's path starts with: the next word is the wrong one.
  let known = 0;
  while (
    known < normalized.length &&
    commands.some((c) => c.path.length > known && c.path.slice(0, known + 1).every((w, i) => w === normalized[i]))
  )
    known += 1;
  const bad = words[known] ?? '';
  const prefix = normalized.slice(0, known);
  const candidates =
    known === 0
      ? firstWords(commands)
      : [
          ...new Set(
            commands
              .filter((c) => c.path.length > known && prefix.every((w, i) => c.path[i] === w))
              .map((c) => c.path[known]!),
          ),
        ];
  if (known === words.length) {
    // Every word is right but one more is needed (`p2tui ledger escrow`).
    return new UserError('E_USAGE', `p2tui ${words.join(' ')} needs one more word: ${candidates.join(', ')}`, {
      hint: `For example: p2tui ${[...words, candidates[0] ?? ''].join(' ')} --help`,
    });
  }
  const near = suggest(bad, candidates);
  const group = words.slice(0, known).join(' ');
  const where = known === 0 ? 'p2tui --help' : `p2tui ${group} --help`;
  const mean = near === undefined ? '' : `Did you mean 'p2tui ${[...words.slice(0, known), near].join(' ')}'? `;
  const message =
    known === 0
      ? `unknown command '${bad}'`
      : `unknown command '${bad}' of p2tui ${group} (its commands: ${candidates.join(', ')})`;
  return new UserError('E_USAGE', message, { hint: `${mean}See ${where}.` });
}
