import type { SessionOptions } from '../../core/events.ts';
import type { BranchOverrides } from '../../engine/branching.ts';
import type { Engine } from '../../engine/engine.ts';
import { parseOverrides, targetsOf, type OverrideValues } from '../overrides.ts';
import { sessionOverrides } from '../shared.ts';

/** The session flags of SESSION_OPTIONS but the two OVERRIDE_OPTIONS replace (they take `agent=value` too). */
type SessionFlags = Omit<Parameters<typeof sessionOverrides>[0], 'model' | 'temperature'>;

/**
 * What a new session of `run` and `chat` starts with: its options (seed, budget, approval, replay, and every agent's
 * model and temperature) and its main branch's per-agent overrides, from `--model/--temperature/--system/--tools`
 * (a bare value for every agent or `agent=value`, see overrides.ts) over a replayed session's own.
 */
export async function startSettings(
  engine: Engine,
  flags: SessionFlags & OverrideValues,
  replayed: Partial<SessionOptions>,
): Promise<{ options: SessionOptions; overrides: BranchOverrides | undefined }> {
  const { mergeOverrides } = await import('../../engine/branching.ts');
  // A replay starts from the recorded session's per-agent settings (its main branch's), so its requests match.
  const recorded =
    replayed.replay === undefined
      ? {}
      : ((engine.store.sessions.branches(replayed.replay.from).find((b) => b.parent === null)?.overrides ??
          {}) as BranchOverrides);
  // Every agent's model and temperature are session options; the rest are the main branch's overrides.
  const given = parseOverrides(flags, targetsOf(engine));
  const { model, temperature, ...branch } = mergeOverrides(recorded, given);
  const options = engine.sessionOptions({
    ...replayed,
    ...sessionOverrides({ ...flags, model: undefined, temperature: undefined }),
    ...(model === undefined ? {} : { model }),
    ...(temperature === undefined ? {} : { temperature }),
  });
  return { options, overrides: Object.keys(branch).length === 0 ? undefined : branch };
}
