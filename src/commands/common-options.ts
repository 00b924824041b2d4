import type { SessionOptions } from '../core/events.ts';
import { UserError } from '../core/errors.ts';
import type { CommandInput, OptionSpec } from './types.ts';
import type { Store } from '../store/store.ts';

/** Options every command that starts or drives a session accepts. */
export const SESSION_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'model',
    type: 'string',
    value: '<provider/name>',
    description: 'Model for every agent of this session (e.g. scripted/default)',
  },
  {
    name: 'seed',
    type: 'number',
    value: '<n>',
    description: 'Seed for the simulator and for providers that take one (random when absent)',
  },
  {
    name: 'temperature',
    type: 'number',
    value: '<t>',
    description: 'Temperature for every agent (0–2), overriding the personas',
  },
  {
    name: 'max-steps',
    type: 'number',
    value: '<n>',
    description: 'Step budget of the session: model calls over all its conversations',
  },
  {
    name: 'approval',
    type: 'string',
    choices: ['deny', 'approve', 'ask'],
    description: "How agents' questions are answered when nobody is at a terminal",
  },
];

/** `run` and `chat`: serve the session from a recording. */
export const REPLAY_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'replay-from',
    type: 'string',
    value: '<session>',
    description: 'Serve model calls, tool results and answers from this recorded session (no network, no effects)',
  },
  {
    name: 'on-miss',
    type: 'string',
    choices: ['fail', 'live'],
    description: 'When a call has no matching recording: stop there (fail, the default) or call the model (live)',
  },
];

/**
 * The replay part of a session's options. The recorded session's model, seed and temperature are the defaults,
 * so the requests match the recording unless a flag changes them on purpose.
 */
export function replayOverrides(input: CommandInput, store: Store): Partial<SessionOptions> {
  const from = input.options['replay-from'];
  const onMiss = input.options['on-miss'];
  if (typeof from !== 'string') {
    if (typeof onMiss === 'string')
      throw new UserError('E_USAGE', '--on-miss needs --replay-from <session>', {
        hint: 'p2tui run <agent> "<message>" --replay-from <session> --on-miss live',
      });
    return {};
  }
  const source = store.sessions.resolve(from);
  const recorded = source.options;
  return {
    seed: recorded.seed,
    ...(recorded.model === undefined ? {} : { model: recorded.model }),
    ...(recorded.temperature === undefined ? {} : { temperature: recorded.temperature }),
    approval: recorded.approval,
    replay: { from: source.id, onMiss: onMiss === 'live' ? 'live' : 'fail' },
  };
}

export function sessionOverrides(input: CommandInput): Partial<SessionOptions> {
  const out: { -readonly [K in keyof SessionOptions]?: SessionOptions[K] } = {};
  const model = input.options['model'];
  if (typeof model === 'string') {
    if (!/^[^/\s]+\/\S+$/.test(model))
      throw new UserError('E_USAGE', `--model '${model}' is not of the form provider/name`, {
        hint: 'For example --model scripted/default.',
      });
    out.model = model;
  }
  const seed = input.options['seed'];
  if (typeof seed === 'number') {
    if (!Number.isInteger(seed)) throw new UserError('E_USAGE', '--seed must be an integer');
    out.seed = seed;
  }
  const temperature = input.options['temperature'];
  if (typeof temperature === 'number') {
    if (temperature < 0 || temperature > 2) throw new UserError('E_USAGE', '--temperature must be between 0 and 2');
    out.temperature = temperature;
  }
  const maxSteps = input.options['max-steps'];
  if (typeof maxSteps === 'number') {
    if (!Number.isInteger(maxSteps) || maxSteps < 1)
      throw new UserError('E_USAGE', '--max-steps must be a positive integer');
    out.maxSteps = maxSteps;
  }
  const approval = input.options['approval'];
  if (approval === 'deny' || approval === 'approve' || approval === 'ask') out.approval = approval;
  return out;
}
