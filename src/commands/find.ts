import { GROUP_ALIASES } from './groups.ts';
import type { Command } from './types.ts';

/**
 * Finding commands by their words, in any list of command declarations: the registry's commands (the TUI's palette,
 * the CLI run from source) or the declarations the build wrote out (the CLI's start, which then loads only the one
 * command it runs).
 */

/** What the help and the parser read of a command: all of it but its handler. */
export type CommandInfo = Omit<Command, 'run'>;

/** Finds the command named by the first words of argv; returns it and the words left over. */
export function findIn<C extends CommandInfo>(
  commands: readonly C[],
  words: readonly string[],
): { command: C; rest: string[] } | undefined {
  // A command of its own under an alias (`conversation prune`) beats the aliased group's command of that name.
  const own = longestMatch(commands, words);
  if (own !== undefined && own.command.path.length > 1) return own;
  const normalized = [...words];
  if (normalized[0] !== undefined) normalized[0] = GROUP_ALIASES[normalized[0]] ?? normalized[0];
  return longestMatch(commands, normalized);
}

function longestMatch<C extends CommandInfo>(
  commands: readonly C[],
  normalized: readonly string[],
): { command: C; rest: string[] } | undefined {
  let best: { command: C; rest: string[] } | undefined;
  for (const command of commands) {
    const n = command.path.length;
    if (
      n <= normalized.length &&
      command.path.every((w, i) => normalized[i] === w) &&
      (best === undefined || n > best.command.path.length)
    ) {
      best = { command, rest: normalized.slice(n) };
    }
  }
  return best;
}

/** The commands of a group (or of a group's other name), in the list's order. */
export function groupIn<C extends CommandInfo>(commands: readonly C[], group: string): C[] {
  const name = GROUP_ALIASES[group] ?? group;
  // An alias's own commands (`conversation prune`) stand in for the group's commands of the same name.
  const own = name === group ? [] : commands.filter((c) => c.path.length > 1 && c.path[0] === group);
  return [
    ...commands.filter((c) => c.path.length > 1 && c.path[0] === name && !own.some((o) => o.path[1] === c.path[1])),
    ...own,
  ];
}
