import { parseArgs } from 'node:util';
import { UserError, messageOf } from '../core/errors.ts';
import { GROUP_ALIASES } from './groups.ts';
import type { GlobalOptionValues } from './define.ts';
import type { Command, CommandInput, OptionSpec } from './types.ts';

/**
 * Parsing a command line into a command's input, shared by the CLI (argv) and the TUI's palette (a typed line), so
 * both accept exactly the same words and options.
 */
export const GLOBAL_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'workspace',
    short: 'w',
    type: 'string',
    value: '<dir>',
    description: 'Workspace folder (default: $P2TUI_WORKSPACE or the current folder)',
  },
  { name: 'db', type: 'string', value: '<file>', description: 'Database file (default: <workspace>/.p2tui/p2tui.db)' },
  { name: 'json', type: 'boolean', description: 'Machine-readable output on stdout' },
  { name: 'debug', type: 'boolean', description: 'Show stack traces of errors' },
  { name: 'no-color', type: 'boolean', description: 'No colours (also NO_COLOR=1)' },
  { name: 'help', short: 'h', type: 'boolean', description: 'Show help for a command' },
];

/** The global options that take a value, as written on a command line (`--db x`, `-w x`). */
const GLOBAL_WITH_VALUE = new Set(
  GLOBAL_OPTIONS.filter((o) => o.type !== 'boolean').flatMap((o) => [
    `--${o.name}`,
    ...(o.short === undefined ? [] : [`-${o.short}`]),
  ]),
);

/** The words before the first option, skipping global options and their values: they name the command. */
export function leadingWords(argv: readonly string[]): string[] {
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    if (GLOBAL_WITH_VALUE.has(token)) {
      i += 1;
      continue;
    }
    if (token.startsWith('-')) {
      if (
        GLOBAL_OPTIONS.some(
          (o) => token === `--${o.name}` || token === `-${o.short}` || token.startsWith(`--${o.name}=`),
        )
      )
        continue;
      break;
    }
    words.push(token);
  }
  return words;
}

export function parseCommandLine(command: Omit<Command, 'run'>, argv: readonly string[]): CommandInput {
  const specs = [...GLOBAL_OPTIONS, ...command.options];
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const spec of specs) {
    config[spec.name] = {
      type: spec.type === 'boolean' ? 'boolean' : 'string',
      ...(spec.short === undefined ? {} : { short: spec.short }),
      ...(spec.multiple === true ? { multiple: true } : {}),
    };
  }
  // A NUL cannot come from a shell (argv is C strings), only from the palette or an embedding program; no path or
  // name may hold one, so it is refused here rather than deep in a file system call.
  const nul = argv.findIndex((word) => word.includes('\u0000'));
  if (nul >= 0) {
    throw new UserError('E_USAGE', `${command.path.join(' ')}: argument ${nul + 1} contains a NUL character`, {
      hint: 'Remove the NUL (\\0) character from the command line.',
    });
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: negativeValuesJoined(argv, specs),
      options: config,
      allowPositionals: true,
      strict: true,
    }));
  } catch (error) {
    // Node's "argument is ambiguous … use '--x=-XYZ'": an option followed by another option, not by its value.
    const ambiguous = /^Option '(-\w, )?--([\w-]+) <value>' argument is ambiguous/.exec(messageOf(error));
    if (ambiguous !== null)
      throw new UserError('E_USAGE', `${command.path.join(' ')}: --${ambiguous[2]} needs a value`, {
        hint: `A value that starts with a dash is written --${ambiguous[2]}=<value>. See: p2tui ${command.path.join(' ')} --help`,
      });
    throw new UserError(
      'E_USAGE',
      `${command.path.join(' ')}: ${messageOf(error).replace(/\. To specify a positional argument.*$/s, '')}`,
      {
        hint: `See: p2tui ${command.path.join(' ')} --help`,
      },
    );
  }
  // Drop the words that named the command (the first occurrence of each, in order; a group alias counts).
  const path = [...command.path];
  const rest: string[] = [];
  for (const word of positionals) {
    const expected = path[0];
    if (expected !== undefined && (word === expected || GROUP_ALIASES[word] === expected)) path.shift();
    else rest.push(word);
  }
  const options: Record<string, string | boolean | number | readonly string[] | undefined> = {};
  for (const spec of specs) {
    const value = values[spec.name];
    if (value === undefined) continue;
    if (spec.type === 'number') {
      const n = Number(value);
      // Decimal numbers only: Number() also takes '0x10', '0b1' and '' (0), which nobody means as a count.
      if (typeof value !== 'string' || !DECIMAL.test(value.trim()) || Number.isNaN(n))
        throw new UserError('E_USAGE', `--${spec.name} needs a number, got '${String(value)}'`);
      if (!Number.isFinite(n)) throw new UserError('E_USAGE', `--${spec.name} needs a finite number, got '${value}'`);
      // A whole number is written in digits: '1e30' is one to Number.isInteger, and 1.5 would not be.
      if (spec.integer === true && (!Number.isInteger(n) || !/^[+-]?\d+$/.test(value.trim())))
        throw new UserError('E_USAGE', `--${spec.name} must be a whole number, got '${value}'`);
      // Past 2^53 a number no longer holds the whole number written (and SQLite takes it as a float).
      if (spec.integer === true && !Number.isSafeInteger(n))
        throw new UserError('E_USAGE', `--${spec.name} is too large, got ${value}`, {
          hint: `Give a whole number between ${spec.min ?? -Number.MAX_SAFE_INTEGER} and ${spec.max ?? Number.MAX_SAFE_INTEGER}.`,
        });
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        const range =
          spec.max === undefined
            ? `at least ${spec.min}`
            : spec.min === undefined
              ? `at most ${spec.max}`
              : `between ${spec.min} and ${spec.max}`;
        throw new UserError('E_USAGE', `--${spec.name} must be ${range}, got ${value}`);
      }
      options[spec.name] = n;
    } else {
      if (spec.choices !== undefined) {
        for (const v of Array.isArray(value) ? value : [value]) {
          if (!spec.choices.includes(String(v)))
            throw new UserError(
              'E_USAGE',
              `--${spec.name} must be one of ${spec.choices.join(', ')}, got '${String(v)}'`,
            );
        }
      }
      options[spec.name] = Array.isArray(value) ? value.map(String) : value;
    }
  }
  if (options['help'] === true) return { args: {}, options };
  const args: Record<string, string | undefined> = {};
  command.args.forEach((spec, i) => {
    const value = spec.rest === true ? (rest.length > i ? rest.slice(i).join(' ') : undefined) : rest[i];
    if (value === undefined && spec.required) {
      throw new UserError('E_USAGE', `${command.path.join(' ')} needs <${spec.name}>: ${spec.description}`, {
        hint: `Usage: ${usage(command)}`,
      });
    }
    args[spec.name] = value;
  });
  const expected = command.args.some((a) => a.rest === true) ? Infinity : command.args.length;
  if (rest.length > expected) {
    throw new UserError('E_USAGE', `${command.path.join(' ')}: unexpected argument '${rest[expected]}'`, {
      hint: `Usage: ${usage(command)} (quote a message that has spaces)`,
    });
  }
  return { args, options };
}

/** A number as people write one: digits, an optional fraction and exponent (`-5`, `0.7`, `.5`, `1e3`). */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A word that is a negative number (`-5`, `-0.5`, `-.5`): a value, not an option, after an option that takes one. */
const NEGATIVE = /^-(\d|\.\d)/;

/**
 * argv with each negative number that follows an option taking a value joined to it (`--max-steps -5` →
 * `--max-steps=-5`): Node's parser takes the `-5` for an option, and its message tells users to write the `=` form.
 * No option of p2tui is a digit, so such a word is never an option.
 */
function negativeValuesJoined(argv: readonly string[], specs: readonly OptionSpec[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const next = argv[i + 1];
    if (word === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const spec = specs.find((o) => o.type !== 'boolean' && (word === `--${o.name}` || word === `-${o.short}`));
    if (spec !== undefined && next !== undefined && NEGATIVE.test(next)) {
      out.push(`--${spec.name}=${next}`);
      i += 1;
    } else out.push(word);
  }
  return out;
}

/** The global options of a parsed command line, typed (what the CLI reads before it runs a command). */
export function globalOptions(input: CommandInput): GlobalOptionValues {
  const text = (name: string): string | undefined => {
    const value = input.options[name];
    return typeof value === 'string' ? value : undefined;
  };
  const flag = (name: string): boolean => input.options[name] === true;
  return {
    workspace: text('workspace'),
    db: text('db'),
    json: flag('json'),
    debug: flag('debug'),
    'no-color': flag('no-color'),
    help: flag('help'),
  };
}

export function usage(command: Omit<Command, 'run'>): string {
  const args = command.args.map((a) => (a.required ? `<${a.name}>` : `[${a.name}]`)).join(' ');
  return `p2tui ${command.path.join(' ')}${args === '' ? '' : ` ${args}`}${command.options.length > 0 ? ' [options]' : ''}`;
}

/** Splits a typed command line into words: spaces separate, quotes group ("a b" or 'a b'), backslash escapes. */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let current = '';
  let quote: string | undefined;
  let started = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (ch === '\\' && i + 1 < line.length) {
      current += line[++i];
      started = true;
    } else if (quote !== undefined) {
      if (ch === quote) quote = undefined;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started) words.push(current);
      current = '';
      started = false;
    } else {
      current += ch;
      started = true;
    }
  }
  if (quote !== undefined) throw new UserError('E_USAGE', `unclosed ${quote} quote`, { hint: 'Close the quote.' });
  if (started) words.push(current);
  return words;
}
