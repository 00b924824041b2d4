import { GROUP_SUMMARIES } from '../commands/groups.ts';
import { GLOBAL_OPTIONS, usage } from '../commands/parse.ts';
import { COMMANDS, groupCommands } from '../commands/registry.ts';
import { paint } from '../commands/render/text.ts';
import type { Command, OptionSpec } from '../commands/types.ts';
import { VERSION } from '../core/version.ts';

/** The help texts: of p2tui, of a group of commands, of one command; written from the commands' declarations. */

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

export function commandHelp(command: Command, color: boolean): string {
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

export function groupHelp(group: string, color: boolean): string {
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

export function mainHelp(color: boolean): string {
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
    '      --no-mouse  The TUI (no command) leaves the mouse to the terminal: no wheel scrolling or clicks',
    '',
    'Exit codes: 0 ok · 1 failed or cancelled · 2 usage · 3 invalid workspace or config · 4 waiting for an answer · ' +
      '5 database problem · 6 a file or folder cannot be used · 130 interrupted',
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
