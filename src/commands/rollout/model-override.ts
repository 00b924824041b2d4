import { UserError, messageOf } from '../../core/errors.ts';
import type { Workspace } from '../../app/workspace.ts';
import type { RolloutSpec } from '../../rollout/spec.ts';
import type { ModelOverride } from '../../rollout/runner.ts';
import { checkModelFlag } from '../shared.ts';
import { mapLiteLlmModel } from '../../models/litellm-ids.ts';

/** `rollout run --model` / `--judge-model` (and `rollout start`'s): checking them, and the line a run starts with. */

/** The options of `rollout run` these read. */
export interface ModelOptions {
  readonly model?: string | undefined;
  readonly 'judge-model'?: string | undefined;
  readonly replay?: string | undefined;
}

/**
 * `--model` and `--judge-model`, checked before anything runs (a typo would otherwise fail every cell): each a
 * model of this workspace's providers; a scripted `--model` puts the judge on the scripted judge too unless
 * `--judge-model` says otherwise, so an offline dry run never calls a paid judge.
 */
export function modelOverride(
  options: ModelOptions,
  workspace: Workspace,
  spec: RolloutSpec,
  /** Says how a LiteLLM id given (`--model gpt-4o`) was read. */
  note: (text: string) => void = () => undefined,
): ModelOverride {
  if (options.model === undefined && options['judge-model'] === undefined) return {};
  if (options.replay !== undefined)
    throw new UserError(
      'E_USAGE',
      '--model and --judge-model cannot go with --replay: a replay serves the recorded calls',
      {
        hint: 'Replay without them (it answers as the recorded models did), or run the spec again with --model.',
      },
    );
  const declared = [...new Set([...Object.keys(workspace.config.providers), ...workspace.providers.ids()])];
  const checked = (flag: string, given: string | undefined): string | undefined => {
    if (given === undefined) return undefined;
    // Read as P2Engine's users type a model (LiteLLM's ids), as in the spec itself.
    const mapped = mapLiteLlmModel(given, declared);
    if (mapped.kind === 'unsupported')
      throw new UserError('E_USAGE', `${flag}: ${mapped.message}`, { hint: `For example ${flag} scripted/default.` });
    if (mapped.kind === 'mapped') note(`${flag}: ${mapped.note}`);
    const ref = mapped.ref;
    if (!/^[^/\s]+\/\S+$/.test(ref))
      throw new UserError('E_USAGE', `${flag} needs the form provider/name, not '${given}'`, {
        hint: `For example ${flag} scripted/default.`,
      });
    checkModelFlag(ref, flag);
    try {
      workspace.providers.resolve(ref);
    } catch (error) {
      // Named on the command line: a usage error (exit 2), as a scripted name the simulator lacks is.
      throw new UserError('E_USAGE', `${flag}: ${messageOf(error)}`, {
        hint: error instanceof UserError && error.hint !== undefined ? error.hint : 'Name a provider of p2tui.yaml.',
      });
    }
    return ref;
  };
  const model = checked('--model', options.model);
  const judge = checked('--judge-model', options['judge-model']);
  // A fork_from cell is a branch of the source session, whose options (its judge among them) this run cannot change.
  if (spec.raw.fork_from !== undefined && (judge !== undefined || model?.startsWith('scripted/') === true))
    throw new UserError(
      'E_USAGE',
      `${judge === undefined ? `--model ${model ?? ''} (which puts the judge on scripted/judge)` : '--judge-model'} ` +
        "cannot go with fork_from: its cells are branches of the source session and are judged by that session's judge",
      { hint: 'Run a fork_from spec with --model <a non-scripted model> only, or without it.' },
    );
  const judgeModel = judge ?? (model?.startsWith('scripted/') === true ? 'scripted/judge' : undefined);
  return { model, judgeModel };
}

/** The one line a run with --model or --judge-model starts with. */
export function overrideNotice(models: ModelOverride, options: ModelOptions): string {
  const agents = models.model === undefined ? [] : [`every agent of every cell runs on ${models.model} (--model)`];
  const judge =
    models.judgeModel === undefined
      ? []
      : [
          options['judge-model'] === undefined
            ? `the judge on ${models.judgeModel} (offline, as --model is scripted; --judge-model to change it)`
            : `the judge on ${models.judgeModel} (--judge-model)`,
        ];
  return [...agents, ...judge].join('; ');
}
