import { z } from 'zod';
import { SCRIPTED_MODELS } from './scripted/models.ts';

/**
 * A model named in a file (persona, p2tui.yaml, rollout spec, judge config): `provider/name`. A `scripted/…` name must
 * be one of the simulator's models: a typo used to run `scripted/default` without a word, so a spec that meant
 * `scripted/slow` measured something else.
 */
export function modelRefSchema(example: string) {
  return z
    .string()
    .regex(/^[^/\s]+\/\S+$/, `provider/name, e.g. ${example}`)
    .refine((ref) => !ref.startsWith('scripted/') || SCRIPTED_MODELS.includes(ref.slice('scripted/'.length)), {
      message: `the simulator's models are ${SCRIPTED_MODELS.map((m) => `scripted/${m}`).join(', ')}`,
    });
}
