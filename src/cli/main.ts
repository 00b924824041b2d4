import { dirname, join, resolve } from 'node:path';
import type { App } from '../app/app.ts';
import type { Workspace } from '../app/workspace.ts';
import { P2Error, UserError, ValidationError, isP2Error, knownFailureOf, messageOf, suggest } from '../core/errors.ts';
import { COMMANDS, findCommand, groupCommands } from '../commands/registry.ts';
import { GROUP_ALIASES } from '../commands/groups.ts';
import { globalOptions, leadingWords, parseCommandLine } from '../commands/parse.ts';
import { EXIT, type Command } from '../commands/types.ts';
import { paint } from '../commands/render/text.ts';
import { CliContext, checkWorkspaceDir } from './context.ts';
import { commandHelp, groupHelp, mainHelp } from './help.ts';
import { TerminalOutput } from './terminal-output.ts';
import { VERSION } from '../core/version.ts';
import { terminalText } from '../core/terminal-text.ts';

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
  try {
    if (argv.length === 1 && (argv[0] === '--help' || argv[0] === '-h')) {
      output.line(mainHelp(color));
      return EXIT.ok;
    }
    if (argv[0] === '--version' || argv[0] === '-V') {
      output.line(VERSION);
      return EXIT.ok;
    }
    const words = leadingWords(argv);
    if (words.length === 0 && !argv.includes('--help') && !argv.includes('-h')) {
      // No command: the full-screen TUI, when there is a terminal to draw it on.
      if (process.stdout.isTTY !== true || process.stdin.isTTY !== true) {
        output.line(mainHelp(color));
        output.warn('(The full-screen TUI opens when p2tui runs in a terminal; here stdin or stdout is not one.)');
        return EXIT.ok;
      }
      // Ink and React take a third of a second to load: start now, alongside the workspace.
      const tuiModule = import('../tui/run.tsx');
      tuiModule.catch(() => undefined); // awaited below; this only keeps a failure meanwhile from counting as unhandled
      const { workspace: given, db } = globalOptions(parseCommandLine(TUI_COMMAND, argv));
      const workspaceDir = resolve(given ?? process.env['P2TUI_WORKSPACE'] ?? process.cwd());
      checkWorkspaceDir(workspaceDir, workspaceSource(given));
      const [{ loadWorkspace }, { App }] = await Promise.all([import('../app/workspace.ts'), import('../app/app.ts')]);
      const workspace = await loadWorkspace(workspaceDir, db === undefined ? {} : { db: resolve(db) });
      tuiWorkspace = workspace;
      const app = new App({ workspace, appVersion: VERSION });
      tuiApp = app;
      const { runTui } = await tuiModule;
      process.off('SIGINT', onSigint);
      return await runTui({
        app,
        color: !noColorSet() && !argv.includes('--no-color'),
        mouse: !argv.includes('--no-mouse'),
        logFile: join(dirname(app.store.path), 'tui.log'),
      });
    }
    const found = findCommand(words);
    if (found === undefined) {
      const group = words[0] === undefined ? undefined : (GROUP_ALIASES[words[0]] ?? words[0]);
      if (group !== undefined && groupCommands(group).length > 0) {
        output.line(groupHelp(group, color));
        return argv.includes('--help') || argv.includes('-h') || words.length === 1 ? EXIT.ok : EXIT.usage;
      }
      const names = [...new Set(COMMANDS.map((c) => c.path[0]!))];
      const near = words[0] === undefined ? undefined : suggest(words[0], names);
      throw new UserError('E_USAGE', `unknown command '${words.join(' ')}'`, {
        hint: `${near === undefined ? '' : `Did you mean '${near}'? `}See p2tui --help.`,
      });
    }
    const { command } = found;
    const parsed = parseCommandLine(command, argv);
    const globals = globalOptions(parsed);
    if (globals.help) {
      output.line(commandHelp(command, color));
      return EXIT.ok;
    }
    const workspaceDir = resolve(globals.workspace ?? process.env['P2TUI_WORKSPACE'] ?? process.cwd());
    // Before the command runs: a read of the database alone must not accept a folder that another command refuses.
    checkWorkspaceDir(workspaceDir, workspaceSource(globals.workspace), command.path[0] === 'init');
    const dbPath = globals.db === undefined ? undefined : resolve(globals.db);
    const ctx = new CliContext({
      output,
      workspaceDir,
      dbPath,
      debug: globals.debug,
      signal: controller.signal,
    });
    context = ctx;
    const result = await command.run(ctx, parsed);
    if (json && result.json !== undefined) output.line(JSON.stringify(result.json, null, 2));
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

export function exitCodeFor(thrown: unknown): number {
  const error = knownFailureOf(thrown);
  if (!(error instanceof P2Error)) return EXIT.failed;
  if (error.code.startsWith('E_FILE_')) return EXIT.file;
  if (error.code === 'E_USAGE' || error.code === 'E_AMBIGUOUS_ID') return EXIT.usage;
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
