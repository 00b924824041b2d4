import type { ArgSpec, Command, CommandContext, CommandInput, CommandResult, OptionSpec } from './types.ts';

/**
 * Typed commands. A command declares its arguments and options once; the CLI's parser (and the TUI's palette)
 * checks argv against that declaration, and the handler reads the values with their types: `input.options.limit` is
 * a `number | undefined`, `input.options.status` one of its choices, `input.args.session` a `string` when required.
 * No casts in handlers, and the help is written from the same declaration.
 */

/** A positional argument, in declaration order. */
export interface ArgDef {
  readonly description: string;
  readonly required?: boolean;
  /** Takes every remaining word (joined by spaces). */
  readonly rest?: boolean;
}

interface OptionBase {
  readonly description: string;
  readonly short?: string;
  /** Placeholder in help, e.g. `<n>`. */
  readonly value?: string;
}

export type OptionDef =
  | (OptionBase & { readonly type: 'boolean' })
  | (OptionBase & { readonly type: 'string'; readonly choices?: readonly string[]; readonly multiple?: boolean })
  | (OptionBase & {
      readonly type: 'number';
      /** Refuse fractions (a count, a seed). */
      readonly integer?: boolean;
      readonly min?: number;
      readonly max?: number;
    });

export type ArgDefs = Readonly<Record<string, ArgDef>>;
export type OptionDefs = Readonly<Record<string, OptionDef>>;

type ArgValue<D extends ArgDef> = D extends { readonly required: true } ? string : string | undefined;

type OptionValue<D extends OptionDef> = D extends { readonly type: 'boolean' }
  ? boolean
  : D extends { readonly type: 'number' }
    ? number | undefined
    : D extends { readonly multiple: true }
      ? readonly string[]
      : D extends { readonly choices: readonly (infer C)[] }
        ? C | undefined
        : string | undefined;

/** The global options every command takes (parse.ts lists them for the parser and the help). */
export interface GlobalOptionValues {
  readonly workspace: string | undefined;
  readonly db: string | undefined;
  readonly json: boolean;
  readonly debug: boolean;
  readonly 'no-color': boolean;
  readonly help: boolean;
}

export interface TypedInput<A extends ArgDefs, O extends OptionDefs> {
  readonly args: { readonly [K in keyof A]: ArgValue<A[K]> };
  readonly options: { readonly [K in keyof O]: OptionValue<O[K]> } & GlobalOptionValues;
}

export interface CommandSpec<A extends ArgDefs, O extends OptionDefs> {
  /** Words of the command, e.g. ['session', 'list']. */
  readonly path: readonly string[];
  readonly summary: string;
  readonly details?: string;
  readonly args?: A;
  readonly options?: O;
  readonly examples?: readonly string[];
  run(ctx: CommandContext, input: TypedInput<A, O>): Promise<CommandResult>;
}

/** A command from its declaration: what the registry lists, the parser checks and the help shows. */
export function defineCommand<
  const A extends ArgDefs = Record<never, ArgDef>,
  const O extends OptionDefs = Record<never, OptionDef>,
>(spec: CommandSpec<A, O>): Command {
  const args: ArgSpec[] = Object.entries(spec.args ?? {}).map(([name, d]) => ({
    name,
    description: d.description,
    required: d.required === true,
    ...(d.rest === true ? { rest: true } : {}),
  }));
  const options: OptionSpec[] = Object.entries(spec.options ?? {}).map(([name, d]) => ({ name, ...d }));
  return {
    path: spec.path,
    summary: spec.summary,
    ...(spec.details === undefined ? {} : { details: spec.details }),
    args,
    options,
    ...(spec.examples === undefined ? {} : { examples: spec.examples }),
    run: (ctx, input) => spec.run(ctx, typed<A, O>(input, options)),
  };
}

/**
 * The parsed input as the handler's types say: the parser has checked every value against the same declaration
 * (numbers, choices, required arguments), so only the absent flags need their defaults (false, an empty list).
 */
function typed<A extends ArgDefs, O extends OptionDefs>(
  input: CommandInput,
  options: readonly OptionSpec[],
): TypedInput<A, O> {
  const values: Record<string, unknown> = { ...input.options };
  for (const o of [...options, ...FLAGS]) {
    if (values[o.name] !== undefined) continue;
    if (o.type === 'boolean') values[o.name] = false;
    else if (o.multiple === true) values[o.name] = [];
  }
  return { args: input.args, options: values } as unknown as TypedInput<A, O>;
}

/** The boolean global options (so handlers read `input.options.json` as a boolean). */
const FLAGS: readonly Pick<OptionSpec, 'name' | 'type' | 'multiple'>[] = [
  { name: 'json', type: 'boolean' },
  { name: 'debug', type: 'boolean' },
  { name: 'no-color', type: 'boolean' },
  { name: 'help', type: 'boolean' },
];
