import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { EventBus } from '../bus/bus.ts';
import { systemClock } from '../core/clock.ts';
import { P2Error, UserError, ValidationError, isP2Error, messageOf, suggest } from '../core/errors.ts';
import { COMMANDS, findCommand, groupCommands } from '../commands/registry.ts';
import { GROUP_ALIASES, GROUP_SUMMARIES } from '../commands/groups.ts';
import { GLOBAL_OPTIONS, leadingWords, parseCommandLine, usage } from '../commands/parse.ts';
import { EXIT, type Command, type CommandContext, type OptionSpec } from '../commands/types.ts';
import { paint } from '../commands/render/text.ts';
import { App } from '../app/app.ts';
import { openWallets, type WalletService } from '../ledger/wallet.ts';
import { loadWorkspace, type Workspace } from '../app/workspace.ts';
import { readWorkspaceConfig } from '../app/config.ts';
import { Store } from '../store/store.ts';
import { TerminalOutput } from './terminal-output.ts';
import { VERSION } from '../core/version.ts';

/** `p2tui` with no command: the TUI, taking only the global options. */
const TUI_COMMAND: Command = {
  path: [],
  summary: 'Open the full-screen TUI',
  args: [],
  options: [],
  run: () => Promise.resolve({ exitCode: EXIT.ok }),
};

/** Runs the CLI and returns the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const color =
    !argv.includes('--no-color') && process.env['NO_COLOR'] === undefined && process.stdout.isTTY === true && !json;
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
  let app: App | undefined;
  let wallets: WalletService | undefined;
  let store: Store | undefined;
  let bus: EventBus | undefined;
  // Loaded workspaces hold MCP connections (stdio servers are child processes): closed on the way out.
  let workspaceLoad: Promise<Workspace> | undefined;
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
      const options = parseCommandLine(TUI_COMMAND, argv);
      const workspaceDir = resolve(
        (options.options['workspace'] as string | undefined) ?? process.env['P2TUI_WORKSPACE'] ?? process.cwd(),
      );
      const db = options.options['db'] as string | undefined;
      workspaceLoad = loadWorkspace(workspaceDir, db === undefined ? {} : { db: resolve(db) });
      const workspace = await workspaceLoad;
      app = new App({ workspace, appVersion: VERSION });
      const { runTui } = await tuiModule;
      process.off('SIGINT', onSigint);
      return await runTui({
        app,
        color: process.env['NO_COLOR'] === undefined && !argv.includes('--no-color'),
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
    if (parsed.options['help'] === true) {
      output.line(commandHelp(command, color));
      return EXIT.ok;
    }
    const workspaceDir = resolve(
      (parsed.options['workspace'] as string | undefined) ?? process.env['P2TUI_WORKSPACE'] ?? process.cwd(),
    );
    const dbOption = parsed.options['db'] as string | undefined;
    const dbPath = dbOption === undefined ? undefined : resolve(dbOption);
    let workspacePromise: Promise<Workspace> | undefined;
    const ctx: CommandContext = {
      output,
      workspaceDir,
      dbPath,
      debug: parsed.options['debug'] === true,
      signal: controller.signal,
      clock: systemClock,
      workspace: () =>
        (workspacePromise ??= workspaceLoad = loadWorkspace(workspaceDir, dbPath === undefined ? {} : { db: dbPath })),
      store: async (options = {}) => {
        if (store === undefined) {
          const path = dbPath ?? defaultDbPath(workspaceDir);
          if (options.existing === true && !existsSync(path)) {
            throw new UserError('E_UNKNOWN_SESSION', `there is no database at ${path} yet, so no sessions`, {
              hint: `Start one with: p2tui run <agent> "<message>"${dbPath === undefined ? '' : ', or check --db'}.`,
            });
          }
          store = new Store({ path, appVersion: VERSION });
        }
        return store;
      },
      bus: async (options = {}) => {
        bus ??= app?.bus ?? new EventBus(await ctx.store(options));
        return bus;
      },
      app: async () => {
        if (app === undefined) {
          const workspace = await ctx.workspace();
          store ??= new Store({ path: dbPath ?? workspace.dbPath, appVersion: VERSION });
          app = new App({ workspace, store, appVersion: VERSION, ...(bus === undefined ? {} : { bus }) });
        }
        return app;
      },
      wallets: async () => {
        if (app !== undefined) return app.wallets;
        const workspace = await ctx.workspace();
        wallets ??= openWallets(await ctx.store(), workspace.config.ledger);
        return wallets;
      },
    };
    const result = await command.run(ctx, parsed);
    if (json && result.json !== undefined) output.line(JSON.stringify(result.json, null, 2));
    return result.exitCode;
  } catch (error) {
    return reportError(error, output, argv.includes('--debug'));
  } finally {
    process.off('SIGINT', onSigint);
    app?.close();
    store?.close();
    await workspaceLoad?.then((w) => w.close()).catch(() => undefined);
    output.close();
  }
}

/** The database path a workspace uses, read without loading personas and tools (so a broken persona does not hide the sessions). */
function defaultDbPath(workspaceDir: string): string {
  try {
    const database = readWorkspaceConfig(workspaceDir).config.database;
    return isAbsolute(database) ? database : join(workspaceDir, database);
  } catch {
    return join(workspaceDir, '.p2tui', 'p2tui.db');
  }
}

function reportError(error: unknown, output: TerminalOutput, debug: boolean): number {
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
    const lines = messageOf(error).split('\n');
    output.warn(
      `${paint(color, 'red', `error ${p2?.code ?? 'E_INTERNAL'}:`)} ${lines.length > 1 && error instanceof ValidationError ? '' : lines[0]}`,
    );
    if (lines.length > 1 && error instanceof ValidationError) for (const line of lines) output.warn(`  ${line}`);
    else for (const line of lines.slice(1)) output.warn(`  ${line}`);
    if (p2?.hint !== undefined) output.warn(paint(color, 'gray', `hint: ${p2.hint}`));
    if (p2 === undefined && !debug)
      output.warn(paint(color, 'gray', 'This is a bug in p2tui; run with --debug for the stack trace.'));
  }
  if (debug && error instanceof Error && error.stack !== undefined) output.warn(error.stack);
  return code;
}

export function exitCodeFor(error: unknown): number {
  if (!(error instanceof P2Error)) return EXIT.failed;
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
    ].includes(error.code)
  )
    return EXIT.config;
  return EXIT.failed;
}

// ---------------------------------------------------------------------------------------------------------------
// Help

function optionLines(options: readonly OptionSpec[]): string[] {
  const rows = options.map((o) => {
    const flag = `${o.short === undefined ? '    ' : `-${o.short}, `}--${o.name}${o.type === 'boolean' ? '' : ` ${o.value ?? (o.choices === undefined ? '<value>' : `<${o.choices.join('|')}>`)}`}`;
    return [flag, o.description];
  });
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([flag, description]) => `  ${flag!.padEnd(width)}  ${description}`);
}

function commandHelp(command: Command, color: boolean): string {
  const lines = [paint(color, 'bold', `Usage: ${usage(command)}`), '', command.summary];
  if (command.details !== undefined) lines.push('', ...wrap(command.details, 100));
  if (command.args.length > 0) {
    lines.push('', paint(color, 'bold', 'Arguments:'));
    const width = Math.max(...command.args.map((a) => a.name.length + 2));
    for (const a of command.args)
      lines.push(`  ${`<${a.name}>`.padEnd(width)}  ${a.description}${a.required ? '' : ' (optional)'}`);
  }
  if (command.options.length > 0) lines.push('', paint(color, 'bold', 'Options:'), ...optionLines(command.options));
  lines.push('', paint(color, 'bold', 'Global options:'), ...optionLines(GLOBAL_OPTIONS));
  if (command.examples !== undefined)
    lines.push('', paint(color, 'bold', 'Examples:'), ...command.examples.map((e) => `  ${e}`));
  return lines.join('\n');
}

function groupHelp(group: string, color: boolean): string {
  const commands = groupCommands(group);
  const width = Math.max(...commands.map((c) => usage(c).length - 'p2tui '.length));
  return [
    paint(color, 'bold', `Usage: p2tui ${group} <command> [options]`),
    '',
    GROUP_SUMMARIES[group] ?? '',
    '',
    ...commands.map((c) => `  ${usage(c).slice('p2tui '.length).padEnd(width)}  ${c.summary}`),
    '',
    `Help on one: p2tui ${group} <command> --help`,
  ].join('\n');
}

function mainHelp(color: boolean): string {
  const singles = COMMANDS.filter((c) => c.path.length === 1);
  const groups = [...new Set(COMMANDS.filter((c) => c.path.length > 1).map((c) => c.path[0]!))];
  const rows: [string, string][] = [
    ...singles.map((c): [string, string] => [usage(c).slice('p2tui '.length).replace(' [options]', ''), c.summary]),
    ...groups.map((g): [string, string] => [
      `${g} ${groupCommands(g)
        .map((c) => c.path[1])
        .join('|')}`,
      GROUP_SUMMARIES[g] ?? '',
    ]),
  ];
  const width = Math.min(44, Math.max(...rows.map((r) => r[0].length)));
  return [
    `${paint(color, 'bold', 'p2tui')} ${VERSION} — a terminal workbench for multi-agent LLM systems`,
    '',
    paint(color, 'bold', 'Usage: p2tui <command> [options]'),
    '',
    paint(color, 'bold', 'Commands:'),
    ...rows.map(([name, summary]) =>
      name.length > width ? `  ${name}\n  ${''.padEnd(width)}  ${summary}` : `  ${name.padEnd(width)}  ${summary}`,
    ),
    '',
    paint(color, 'bold', 'Global options:'),
    ...optionLines(GLOBAL_OPTIONS),
    '      --version  Print the version',
    '',
    'Exit codes: 0 ok · 1 failed or cancelled · 2 usage · 3 invalid workspace or config · 4 waiting for an answer · 5 database problem · 130 interrupted',
    'Help on a command: p2tui <command> --help',
  ].join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines;
}

// Run when executed directly (the bin imports and calls main itself).
if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('/src/cli/main.ts') === true) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${messageOf(error)}\n`);
      process.exit(EXIT.failed);
    },
  );
}
