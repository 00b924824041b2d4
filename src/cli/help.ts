import { GROUP_SUMMARIES } from '../commands/groups.ts';
import { GLOBAL_OPTIONS, usage } from '../commands/parse.ts';
import { groupIn, type CommandInfo } from '../commands/find.ts';
import { paint } from '../commands/render/text.ts';
import type { OptionSpec } from '../commands/types.ts';
import { VERSION } from '../core/version.ts';

/**
 * The help texts: of p2tui, of a group of commands, of one command; written from the commands' declarations (the
 * registry's, or the copy the build wrote of them: src/cli/catalog.ts), so no command's module loads for them.
 */

function optionLines(options: readonly OptionSpec[]): string[] {
  const rows = options.map((o) => {
    const short = o.short === undefined ? '    ' : `-${o.short}, `;
    const value = o.value ?? (o.choices === undefined ? '<value>' : `<${o.choices.join('|')}>`);
    const flag = `${short}--${o.name}${o.type === 'boolean' ? '' : ` ${value}`}`;
    return [flag, o.description];
  });
  const width = Math.max(...rows.map((r) => r[0]!.length));
  return rows.map(([flag, description]) => `  ${flag!.padEnd(width)}  ${description}`);
}

export function commandHelp(command: CommandInfo, color: boolean): string {
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

export function groupHelp(group: string, color: boolean, all: readonly CommandInfo[]): string {
  const commands = groupIn(all, group);
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

/** The options only the TUI (no command) and the CLI itself take, shown with the global ones in the main help. */
const MAIN_ONLY_OPTIONS: readonly OptionSpec[] = [
  { name: 'version', short: 'V', type: 'boolean', description: 'Print the version (also: p2tui version)' },
  {
    name: 'no-mouse',
    type: 'boolean',
    description: 'The TUI leaves the mouse to the terminal: no wheel scrolling or clicks',
  },
];

/** The README's table of exit codes. */
const EXIT_CODES: readonly (readonly [string, string])[] = [
  ['0', 'done'],
  ['1', 'the session failed or was cancelled, or a check failed'],
  [
    '2',
    'usage: a wrong word, option or value, or an id (session, branch, rollout, artifact, evaluator, metric) that names nothing',
  ],
  ['3', 'invalid workspace, persona, tool or config, or unknown agent; a bundle refused'],
  ['4', 'the session waits for your answer'],
  ['5', 'database problem (locked, newer, damaged, full, read-only)'],
  ['6', 'a file or folder you named cannot be used'],
  ['130', 'interrupted (Ctrl-C; the session stays resumable)'],
];

/** Rows of a two-column list: the names padded to one width, the descriptions wrapped and aligned under each other. */
function columns(rows: readonly (readonly [string, string])[], width: number, total = 110): string[] {
  const indent = ''.padEnd(width + 4);
  return rows.flatMap(([name, text]) =>
    wrap(text, Math.max(40, total - indent.length)).map((line, i) =>
      i === 0 ? `  ${name.padEnd(width)}  ${line}` : `${indent}${line}`,
    ),
  );
}

/**
 * The main help, written from the registry: the TUI, every single command, every group with its summary and its
 * commands (a group without a summary in groups.ts still gets its commands listed), the CLI's own words.
 */
export function mainHelp(color: boolean, commands: readonly CommandInfo[]): string {
  const singles = commands.filter((c) => c.path.length === 1);
  const single = new Set(singles.map((c) => c.path[0]!));
  // A first word that is a command by itself (`chat`) lists its longer forms (`chat with`) on its own row.
  const longer = (word: string): string => {
    const more = commands.filter((c) => c.path.length > 1 && c.path[0] === word).map((c) => c.path.slice(1).join(' '));
    return more.length === 0 ? '' : ` (also: ${more.map((m) => `${word} ${m}`).join(', ')})`;
  };
  const groups = [...new Set(commands.filter((c) => c.path.length > 1).map((c) => c.path[0]!))].filter(
    (g) => !single.has(g),
  );
  const commandRows = [
    ...singles.map((c): [string, string] => [
      usage(c).slice('p2tui '.length).replace(' [options]', ''),
      `${c.summary}${longer(c.path[0]!)}`,
    ]),
    ['help [command]', 'Help on p2tui, a group or a command (as --help)'] as [string, string],
    ['version', 'Print the version (--json: {"version": …})'] as [string, string],
  ];
  const groupRows = groups.map((g): [string, string] => {
    const names = [...new Set(groupIn(commands, g).map((c) => c.path[1]!))];
    const summary = GROUP_SUMMARIES[g] ?? `The ${g} commands`;
    return [g, `${summary.replace(/\.$/, '')}. Commands: ${names.join(', ')}`];
  });
  // One width for both lists, so their descriptions start in the same column.
  const width = Math.max(...[...commandRows, ...groupRows].map((r) => r[0].length));
  return [
    `${paint(color, 'bold', 'p2tui')} ${VERSION} — a terminal workbench for multi-agent LLM systems`,
    '',
    paint(color, 'bold', 'Usage:'),
    '  p2tui                               open the full-screen TUI on the workspace (in a terminal; --no-mouse)',
    '  p2tui <command> [options]',
    '  p2tui <group> <command> [options]',
    '',
    paint(color, 'bold', 'Commands:'),
    ...columns(commandRows, width),
    '',
    paint(color, 'bold', 'Groups (p2tui <group> lists its commands):'),
    ...columns(groupRows, width),
    '',
    paint(color, 'bold', 'Global options:'),
    ...optionLines([...GLOBAL_OPTIONS, ...MAIN_ONLY_OPTIONS]),
    '',
    paint(color, 'bold', 'Exit codes:'),
    ...columns(EXIT_CODES, 3),
    '',
    'Errors go to stderr; with --json, one {"error": {"code", "message", "hint", "location"}} object on stdout instead.',
    'Help on a command: p2tui help <command>, or p2tui <command> --help',
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
