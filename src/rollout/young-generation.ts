import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * A long rollout's memory stays where a short one's is: V8 doubles its young generation (the new space) each time
 * as many bytes as it holds have survived its collections since it last grew, and the objects of the cells in flight
 * survive one or two of them, so 10,000 cells doubled it once more than 1,000 did (64 to 128 MB of new space on a
 * machine with much memory: a peak RSS of 350 MB against 200 MB) although nothing of a finished cell stays. Node
 * reads --max-semi-space-size only when it starts; the growth factor V8 reads at each growth, so once the new space
 * is this large it grows no more. Process-wide: the commands that run a rollout end when it does.
 */
const NEW_SPACE_CAP = 32 * 2 ** 20;
/** How often (in calls) the new space's size is looked at: it grows rarely, and the look allocates. */
const EVERY = 50;

/** `fn` that, as a rollout's progress reports come in, stops the young generation's growth once it is at the cap. */
export function capYoungGeneration<T>(fn: (value: T) => void): (value: T) => void {
  let calls = 0;
  let capped = false;
  return (value) => {
    fn(value);
    if (capped || ++calls % EVERY !== 0) return;
    const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    if (space === undefined || space.space_size < NEW_SPACE_CAP) return;
    setFlagsFromString('--semi-space-growth-factor=1');
    capped = true;
  };
}
