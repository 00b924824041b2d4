import type { Command } from '../types.ts';
import { rolloutExportCommand } from './export.ts';
import { rolloutCompareCommand, rolloutListCommand, rolloutShowCommand } from './inspect.ts';
import { rolloutResumeCommand, rolloutRunCommand, rolloutStartCommand, rolloutValidateCommand } from './run.ts';
import { workerCommand } from './worker.ts';

/** Rollouts (rollout …) and the `worker` that runs their cells from a queue, in the order help lists them. */
export const rolloutCommands: readonly Command[] = [
  workerCommand,
  rolloutRunCommand,
  rolloutStartCommand,
  rolloutResumeCommand,
  rolloutValidateCommand,
  rolloutListCommand,
  rolloutShowCommand,
  rolloutCompareCommand,
  rolloutExportCommand,
];
