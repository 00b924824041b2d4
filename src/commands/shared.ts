import type { SessionOptions } from '../core/events.ts';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UserError, fileFailureOf, suggest } from '../core/errors.ts';
import { SCRIPTED_MODELS } from '../models/scripted/models.ts';
import type { ArgDef, OptionDefs, TypedInput } from './define.ts';
import type { CommandContext, WorkspaceUse } from './types.ts';

/**
 * Arguments and options several commands share, declared once: a session reference, the options that start or
 * drive a session, and replaying from a recording.
 */

/** `<session>`: an id, a unique prefix of one, or "last". */
export const SESSION_ARG = {
  description: 'Session id, unique prefix, or "last"',
  required: true,
} as const satisfies ArgDef;

/** Options every command that starts or drives a session accepts. */
export const SESSION_OPTIONS = {
  model: {
    type: 'string',
    value: '<provider/name>',
    description: 'Model for every agent of this session (e.g. scripted/default)',
  },
  seed: {
    type: 'number',
    integer: true,
    value: '<n>',
    description: 'Seed for the simulator and for providers that take one (random when absent)',
  },
  temperature: {
    type: 'number',
    min: 0,
    max: 2,
    value: '<t>',
    description: 'Temperature for every agent (0–2), overriding the personas',
  },
  'max-steps': {
    type: 'number',
    integer: true,
    min: 1,
    value: '<n>',
    description: 'Step budget of the session: model calls over all its conversations',
  },
  approval: {
    type: 'string',
    choices: ['deny', 'approve', 'ask'],
    description: "How agents' questions are answered when nobody is at a terminal",
  },
} as const satisfies OptionDefs;

/** `run` and `chat`: serve the session from a recording. */
export const REPLAY_OPTIONS = {
  'replay-from': {
    type: 'string',
    value: '<session>',
    description: 'Serve model calls, tool results and answers from this recorded session (no network, no effects)',
  },
  'on-miss': {
    type: 'string',
    choices: ['fail', 'live'],
    description: 'When a call has no matching recording: stop there (fail, the default) or call the model (live)',
  },
} as const satisfies OptionDefs;

type Options<O extends OptionDefs> = TypedInput<Record<never, ArgDef>, O>['options'];

/** The session options the flags set (model, seed, temperature, step budget, approval policy). */
export function sessionOverrides(options: Options<typeof SESSION_OPTIONS>): Partial<SessionOptions> {
  const { model, seed, temperature, approval } = options;
  const maxSteps = options['max-steps'];
  if (model !== undefined && !/^[^/\s]+\/\S+$/.test(model)) {
    throw new UserError('E_USAGE', `--model '${model}' is not of the form provider/name`, {
      hint: 'For example --model scripted/default.',
    });
  }
  if (model !== undefined) checkModelFlag(model);
  return {
    ...(model === undefined ? {} : { model }),
    ...(seed === undefined ? {} : { seed }),
    ...(temperature === undefined ? {} : { temperature }),
    ...(maxSteps === undefined ? {} : { maxSteps }),
    ...(approval === undefined ? {} : { approval }),
  };
}

/**
 * Refuses a `--model scripted/<name>` the simulator does not have: it would answer as scripted/default, so a typo
 * would run the default model without a word. Other providers' names are theirs to check (a model server says).
 */
export function checkModelFlag(model: string, flag = '--model'): void {
  const [provider, name] = [model.slice(0, model.indexOf('/')), model.slice(model.indexOf('/') + 1)];
  if (provider !== 'scripted' || SCRIPTED_MODELS.includes(name)) return;
  const near = suggest(name, SCRIPTED_MODELS);
  throw new UserError(
    'E_USAGE',
    `${flag}: the simulator has no model '${name}' (it has ${SCRIPTED_MODELS.join(', ')})`,
    {
      hint: `${near === undefined ? '' : `Did you mean scripted/${near}? `}For example ${flag} scripted/default.`,
    },
  );
}

/**
 * The replay part of a session's options. The recorded session's model, seed and temperature are the defaults,
 * so the requests match the recording unless a flag changes them on purpose. Read before the workspace loads (a
 * replay's MCP tools come from the recording); the database is opened only for a replay, which needs one.
 */
export async function replayOverrides(
  options: Options<typeof REPLAY_OPTIONS>,
  ctx: Pick<CommandContext, 'store'>,
): Promise<Partial<SessionOptions>> {
  const from = options['replay-from'];
  const onMiss = options['on-miss'];
  if (from === undefined) {
    if (onMiss !== undefined)
      throw new UserError('E_USAGE', '--on-miss needs --replay-from <session>', {
        hint: 'p2tui run <agent> "<message>" --replay-from <session> --on-miss live',
      });
    return {};
  }
  const source = (await ctx.store({ existing: true })).sessions.resolve(from);
  const recorded = source.options;
  return {
    seed: recorded.seed,
    ...(recorded.model === undefined ? {} : { model: recorded.model }),
    ...(recorded.temperature === undefined ? {} : { temperature: recorded.temperature }),
    approval: recorded.approval,
    replay: { from: source.id, onMiss: onMiss ?? 'fail' },
  };
}

/**
 * How a command that continues a stored session uses the workspace: a session that replays another stays offline
 * when it continues (its MCP tools come from the recording, and no server is reached).
 */
export async function continuing(ctx: CommandContext, ref: string | undefined): Promise<WorkspaceUse> {
  if (ref === undefined) return {};
  const replay = (await ctx.store({ existing: true })).sessions.resolve(ref).options.replay;
  return replay === undefined ? {} : { replay };
}

/** A TCP port to listen on or reach (1–65535). */
export function portOption(description: string) {
  return { type: 'number', integer: true, min: 1, max: 65535, value: '<port>', description } as const;
}

/**
 * Refuses an --out path that cannot be written before any work is done: a missing folder, a folder named as the
 * file. Exit code 6 (E_FILE_*), as for every file the user names.
 */
export function checkOutPath(path: string): string {
  const file = resolve(path);
  const folder = dirname(file);
  if (!existsSync(folder)) {
    throw new UserError('E_FILE_NOT_FOUND', `cannot write ${path}: the folder ${folder} does not exist`, {
      hint: 'Create the folder, or pick another --out path.',
    });
  }
  if (existsSync(file) && statSync(file).isDirectory()) {
    throw new UserError('E_FILE_TYPE', `cannot write ${path}: it is a folder`, {
      hint: 'Name a file (inside that folder, say) as --out.',
    });
  }
  return file;
}

/** Writes a whole --out file; a folder that refuses it or a full disk is the file's error (E_FILE_*), not p2tui's. */
export function writeOutFile(path: string, text: string): string {
  const file = checkOutPath(path);
  try {
    writeFileSync(file, text);
  } catch (error) {
    throw fileFailureOf(error, `cannot write ${path}`) ?? error;
  }
  return file;
}
