import { dirname, join, resolve } from 'node:path';
import type { App } from '../app/app.ts';
import type { Workspace } from '../app/workspace.ts';
import { P2Error, ValidationError, isP2Error, knownFailureOf, messageOf } from '../core/errors.ts';
import { findIn, groupIn, type CommandInfo } from '../commands/find.ts';
import { unknownCommand } from '../commands/lookup.ts';
import { GROUP_ALIASES } from '../commands/groups.ts';
import { globalOptions, leadingWords, parseCommandLine } from '../commands/parse.ts';
import { EXIT, type Command } from '../commands/types.ts';
import { paint } from '../commands/render/text.ts';
import { commandCatalog } from './catalog.ts';
import { CliContext, checkWorkspaceDir, startLiveExport } from './context.ts';
import { commandHelp, groupHelp, mainHelp } from './help.ts';
import { TerminalOutput } from './terminal-output.ts';
import { VERSION } from '../core/version.ts';
import { terminalText } from '../core/terminal-text.ts';
import type * as TuiModule from '../tui/run.tsx';

/** `p2tui` with no command: the TUI, taking only the global options. */
const TUI_COMMAND: Command = {
  path: [],
  summary: 'Open the full-screen TUI',
  args: [],
  options: [{ name: 'no-mouse', type: 'boolean', description: 'No mouse: the terminal selects text as usual' }],
  run: () => Promise.resolve({ exitCode: EXIT.ok }),
};

/** NO_COLOR turns colour off when it is set and not empty (no-color.org): `NO_COLOR=` leaves it on. */
function noColorSet(): boolean {
  return (process.env['NO_COLOR'] ?? '') !== '';
}

/** Runs the CLI and returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const color = !argv.includes('--no-color') && !noColorSet() && process.stdout.isTTY === true && !json;
  const output = new TerminalOutput({ json, color });
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts += 1;
    if (interrupts === 1) {
      controller.abort();
      output.warn(paint(color, 'yellow', '\nStopping… (Ctrl-C again to quit at once)'));
    } else process.exit(EXIT.interrupted);
  };
  process.on('SIGINT', onSigint);
  output.onInterrupt(onSigint);
  let context: CliContext | undefined;
  // The TUI's app and workspace (a command's are its context's): closed on the way out.
  let tuiApp: App | undefined;
  let tuiWorkspace: Workspace | undefined;
  /** The full-screen TUI on a workspace and database, opened on a rollout's grid when one is given. */
  const openTui = async (
    workspaceDir: string,
    db: string | undefined,
    tuiModule: Promise<typeof TuiModule>,
    rollout?: string,
  ): Promise<number> => {
    const [{ loadWorkspace }, { App }] = await Promise.all([import('../app/workspace.ts'), import('../app/app.ts')]);
    const workspace = await loadWorkspace(workspaceDir, db === undefined ? {} : { db });
    tuiWorkspace = workspace;
    const app = new App({ workspace, appVersion: VERSION });
    tuiApp = app;
    // Sessions the TUI drives are exported live too; while it draws, a notice goes to its log (console is redirected).
    const live = await startLiveExport(app.store, workspace.config.otel, (text) => console.warn(text), app.clock);
    const { runTui } = await tuiModule;
    process.off('SIGINT', onSigint);
    try {
      return await runTui({
        app,
        color: !noColorSet() && !argv.includes('--no-color'),
        mouse: !argv.includes('--no-mouse'),
        logFile: join(dirname(app.store.path), 'tui.log'),
        ...(rollout === undefined ? {} : { rollout }),
      });
    } finally {
      await live?.flush();
      live?.stop();
    }
  };
  try {
    if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
      output.line(mainHelp(color, (await commandCatalog()).commands));
      return EXIT.ok;
    }
    // --version anywhere before `--` (as git and kubectl take it), and `p2tui version`.
    const end = argv.indexOf('--');
    const options = end < 0 ? argv : argv.slice(0, end);
    const first = leadingWords(argv);
    if (options.includes('--version') || options.includes('-V') || first[0] === 'version') {
      if (first[0] === 'version' && first.length > 1) throw unknownCommand(first, (await commandCatalog()).commands);
      output.line(json ? JSON.stringify({ version: VERSION }) : VERSION);
      return EXIT.ok;
    }
    const words = leadingWords(argv);
    // The commands' declarations; a command's module loads once it is the one to run.
    const catalog = await commandCatalog();
    const commands = catalog.commands;
    if (words.length === 0 && !argv.includes('--help') && !argv.includes('-h')) {
      // No command: the full-screen TUI, when there is a terminal to draw it on.
      if (process.stdout.isTTY !== true || process.stdin.isTTY !== true) {
        output.line(mainHelp(color, commands));
        output.warn('(The full-screen TUI opens when p2tui runs in a terminal; here stdin or stdout is not one.)');
        return EXIT.ok;
      }
      // Ink and React take a third of a second to load: start now, alongside the workspace.
      const tuiModule = import('../tui/run.tsx');
      tuiModule.catch(() => undefined); // awaited below; this only keeps a failure meanwhile from counting as unhandled
      const { workspace: given, db } = globalOptions(parseCommandLine(TUI_COMMAND, argv));
      const workspaceDir = resolve(given ?? process.env['P2TUI_WORKSPACE'] ?? process.cwd());
      checkWorkspaceDir(workspaceDir, workspaceSource(given));
      return await openTui(workspaceDir, db === undefined ? undefined : resolve(db), tuiModule);
    }
    if (words[0] === 'help') {
      // `p2tui help [command]`: the help of p2tui, of a group or of a command.
      output.line(helpFor(words.slice(1), color, commands));
      return EXIT.ok;
    }
    const found = findIn(commands, words);
    if (found === undefined) {
      const group = words[0] === undefined ? undefined : (GROUP_ALIASES[words[0]] ?? words[0]);
      if (group !== undefined && groupIn(commands, group).length > 0 && words.length === 1) {
        // An alias with commands of its own (`conversation prune`) shows its own list.
        output.line(groupHelp(commands.some((c) => c.path[0] === words[0]) ? words[0]! : group, color, commands));
        return EXIT.ok;
      }
      throw unknownCommand(words, commands);
    }
    const parsed = parseCommandLine(found.command, argv);
    const globals = globalOptions(parsed);
    if (globals.help) {
      output.line(commandHelp(found.command, color));
      return EXIT.ok;
    }
    const workspaceDir = resolve(globals.workspace ?? process.env['P2TUI_WORKSPACE'] ?? process.cwd());
    // Before the command runs: a read of the database alone must not accept a folder that another command refuses.
    checkWorkspaceDir(workspaceDir, workspaceSource(globals.workspace), found.command.path[0] === 'init');
    const dbPath = globals.db === undefined ? undefined : resolve(globals.db);
    const ctx = new CliContext({
      output,
      workspaceDir,
      dbPath,
      debug: globals.debug,
      signal: controller.signal,
    });
    context = ctx;
    const command = await catalog.load(found.command);
    const result = await command.run(ctx, parsed);
    if (json && result.json !== undefined) output.line(JSON.stringify(result.json, null, 2));
    if (result.tui !== undefined && process.stdout.isTTY === true && process.stdin.isTTY === true) {
      // `rollout start --rerun`: the command's app lets go of the database, and the TUI opens on the rollout's grid in
      // this terminal; the command's exit code stands when it is closed.
      const tuiModule = import('../tui/run.tsx');
      tuiModule.catch(() => undefined);
      await context.close();
      context = undefined;
      await openTui(workspaceDir, dbPath, tuiModule, result.tui.rollout);
    }
    return result.exitCode;
  } catch (error) {
    return reportError(error, output, argv.includes('--debug'), context?.databasePath);
  } finally {
    process.off('SIGINT', onSigint);
    await context?.close();
    tuiApp?.close();
    await tuiWorkspace?.close().catch(() => undefined);
    output.close();
  }
}

/** Where the workspace folder was named (said in the error when it is missing or a file). */
function workspaceSource(given: string | undefined): '--workspace' | 'P2TUI_WORKSPACE' | 'cwd' {
  return given !== undefined ? '--workspace' : process.env['P2TUI_WORKSPACE'] !== undefined ? 'P2TUI_WORKSPACE' : 'cwd';
}

/** `p2tui help <words>`: the main help, a group's, or a command's; words that name nothing are refused as usage. */
function helpFor(words: readonly string[], color: boolean, commands: readonly CommandInfo[]): string {
  if (words.length === 0) return mainHelp(color, commands);
  const found = findIn(commands, words);
  if (found !== undefined && found.rest.length === 0) return commandHelp(found.command, color);
  const group = GROUP_ALIASES[words[0]!] ?? words[0]!;
  if (words.length === 1 && groupIn(commands, group).length > 0) return groupHelp(group, color, commands);
  throw unknownCommand(found === undefined ? words : [...found.command.path, ...found.rest], commands);
}

function reportError(thrown: unknown, output: TerminalOutput, debug: boolean, database?: string): number {
  const error = knownFailureOf(thrown, database);
  const code = exitCodeFor(error);
  const p2 = isP2Error(error) ? error : undefined;
  if (output.json) {
    output.line(
      JSON.stringify(
        {
          error: {
            code: p2?.code ?? 'E_INTERNAL',
            message: messageOf(error),
            hint: p2?.hint ?? null,
            location: p2?.location ?? null,
          },
        },
        null,
        2,
      ),
    );
  } else {
    const color = output.color;
    // A message may quote what a tool, a model or an MCP server said: shown, not obeyed, and not in its colours.
    const lines = terminalText(messageOf(error)).split('\n');
    output.warn(
      `${paint(color, 'red', `error ${p2?.code ?? 'E_INTERNAL'}:`)} ${lines.length > 1 && error instanceof ValidationError ? '' : lines[0]}`,
    );
    if (lines.length > 1 && error instanceof ValidationError) for (const line of lines) output.warn(`  ${line}`);
    else for (const line of lines.slice(1)) output.warn(`  ${line}`);
    if (p2?.hint !== undefined) output.warn(paint(color, 'gray', `hint: ${terminalText(p2.hint)}`));
    if (p2 === undefined && !debug)
      output.warn(paint(color, 'gray', 'This is a bug in p2tui; run with --debug for the stack trace.'));
  }
  if (debug && error instanceof Error && error.stack !== undefined) output.warn(error.stack);
  return code;
}

/** Refused command lines: bad words or options, and ids named on the command line that name nothing (exit code 2). */
const USAGE_CODES: readonly string[] = [
  'E_USAGE',
  'E_AMBIGUOUS_ID',
  'E_UNKNOWN_SESSION',
  'E_UNKNOWN_BRANCH',
  'E_UNKNOWN_ROLLOUT',
  'E_UNKNOWN_ARTIFACT',
  'E_UNKNOWN_EVALUATOR',
  'E_UNKNOWN_METRIC',
];

export function exitCodeFor(thrown: unknown): number {
  const error = knownFailureOf(thrown);
  if (!(error instanceof P2Error)) return EXIT.failed;
  if (error.code.startsWith('E_FILE_')) return EXIT.file;
  if (USAGE_CODES.includes(error.code)) return EXIT.usage;
  if (error.code.startsWith('E_DB_')) return EXIT.store;
  if (
    [
      'E_CONFIG',
      'E_PERSONA_INVALID',
      'E_TOOL_INVALID',
      'E_UNKNOWN_AGENT',
      'E_UNKNOWN_TOOL',
      'E_WORKSPACE',
      'E_UNKNOWN_PROVIDER',
      'E_ROLLOUT_SPEC',
      'E_BUNDLE_INVALID',
      'E_BUNDLE_CONFLICT',
      // A rubric file that cannot be read is an invalid workspace, as a broken persona is.
      'E_RUBRIC',
      'E_AGENTS_YML',
      'E_MIGRATE_SOURCE',
      'E_MIGRATE_CONFLICT',
    ].includes(error.code)
  )
    return EXIT.config;
  return EXIT.failed;
}

// Run when executed directly (the bin imports and calls main itself).
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/src/cli/main.ts') === true) {
  main(process.argv.slice(2)).then(
    // Exit once stdout has drained: a pipe is written asynchronously, and exiting at once cut a large
    // `artifacts show --raw | …` at 64 KB.
    (code) => process.stdout.write('', () => process.exit(code)),
    (error: unknown) => {
      process.stderr.write(`${terminalText(messageOf(error))}\n`);
      process.exit(EXIT.failed);
    },
  );
}
