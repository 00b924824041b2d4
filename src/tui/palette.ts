import { isP2Error, knownFailureOf, messageOf } from '../core/errors.ts';
import { COMMANDS as CLI_COMMANDS, findCommand, groupCommands } from '../commands/registry.ts';
import { GROUP_ALIASES } from '../commands/groups.ts';
import { parseCommandLine, splitWords } from '../commands/parse.ts';
import type { CommandContext, Output } from '../commands/types.ts';
import type { App } from '../app/app.ts';

/**
 * The `:` palette runs the CLI's own commands (src/commands), in this process, with an output that collects lines
 * for the overlay instead of writing to the terminal. Only commands that need a person at a prompt are left out.
 */
// chat and its P2Engine spellings need a terminal prompt.
const NOT_IN_PALETTE = new Set(['chat', 'chat with', 'chat resume']);

export interface Completion {
  /** The command's words, e.g. `session show`. */
  readonly text: string;
  readonly summary: string;
}

/** Commands whose words start with what is typed (the first word may be partial), best first. */
export function paletteCompletions(typed: string): Completion[] {
  const trailingSpace = /\s$/.test(typed);
  const words = typed
    .trim()
    .split(/\s+/)
    .filter((w) => w !== '');
  // A group's other name offers the group's commands, and its own in their place (`conversation prune`).
  const alias = words[0] !== undefined && GROUP_ALIASES[words[0]] !== undefined ? words[0] : undefined;
  const pool = alias === undefined ? CLI_COMMANDS : groupCommands(alias);
  const matches = pool.filter((c) => {
    if (NOT_IN_PALETTE.has(c.path.join(' '))) return false;
    // Typed words name the command: all but the last exactly, the last as a prefix (until a space follows it).
    // Words past the command's own are its arguments.
    for (let i = alias === undefined ? 0 : 1; i < words.length && i < c.path.length; i++) {
      const last = i === words.length - 1 && !trailingSpace;
      if (last ? !c.path[i]!.startsWith(words[i]!) : c.path[i] !== words[i]) return false;
    }
    return true;
  });
  return matches.map((c) => ({ text: c.path.join(' '), summary: c.summary }));
}

/** Runs a command line; resolves with the lines it printed (errors included, as lines). */
export async function runPaletteLine(
  line: string,
  app: App,
  signal: AbortSignal,
  onLine: (text: string) => void,
): Promise<number> {
  let words: string[];
  try {
    words = splitWords(line);
  } catch (error) {
    onLine(`error: ${messageOf(error)}`);
    return 2;
  }
  const found = findCommand(words);
  if (found === undefined || NOT_IN_PALETTE.has(found.command.path.join(' '))) {
    onLine(
      found === undefined
        ? `unknown command '${words.join(' ')}' — type a few letters and press Tab`
        : `'${found.command.path.join(' ')}' needs a terminal prompt; use it outside the TUI`,
    );
    return 2;
  }
  const output: Output = {
    json: words.includes('--json'),
    color: false,
    interactive: false,
    inTui: true,
    line: (text = '') => {
      for (const l of text.split('\n')) onLine(l);
    },
    write: (text) => onLine(text),
    warn: (text) => {
      for (const l of text.split('\n')) onLine(l);
    },
    ask: () => Promise.resolve(undefined),
  };
  const ctx: CommandContext = {
    output,
    workspaceDir: app.workspace.root,
    dbPath: app.store.path,
    debug: false,
    signal,
    clock: app.clock,
    workspace: () => Promise.resolve(app.workspace),
    store: () => Promise.resolve(app.store),
    bus: () => Promise.resolve(app.bus),
    app: () => Promise.resolve(app),
    wallets: () => Promise.resolve(app.wallets),
  };
  try {
    const input = parseCommandLine(found.command, words);
    if (input.options['help'] === true) {
      onLine(
        `${found.command.summary}. Options: ${found.command.options.map((o) => `--${o.name}`).join(' ') || 'none'}`,
      );
      return 0;
    }
    const result = await found.command.run(ctx, input);
    if (output.json && result.json !== undefined)
      for (const l of JSON.stringify(result.json, null, 2).split('\n')) onLine(l);
    return result.exitCode;
  } catch (thrown) {
    const error = knownFailureOf(thrown);
    onLine(`error ${isP2Error(error) ? error.code : 'E_INTERNAL'}: ${messageOf(error)}`);
    if (isP2Error(error) && error.hint !== undefined) onLine(`hint: ${error.hint}`);
    return 1;
  }
}
