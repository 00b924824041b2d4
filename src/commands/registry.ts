import type { Command } from './types.ts';
import { GROUP_ALIASES } from './groups.ts';
import { runCommand } from './run/run.ts';
import { chatCommand } from './run/chat.ts';
import { listCommand, showCommand, stackCommand } from './session/inspect.ts';
import { cancelCommand, pauseCommand, resumeCommand, respondCommand, watchCommand } from './session/control.ts';
import { replayCommand } from './session/replay.ts';
import { branchesCommand, compensateCommand, diffCommand } from './session/branches.ts';
import { checkoutCommand, forkCommand, rewindCommand } from './session/fork.ts';
import { deleteCommand, exportCommand, importCommand, pruneCommand } from './session/bundles.ts';
import { artifactsDiffCommand, artifactsListCommand, artifactsShowCommand } from './session/artifacts.ts';
import { agentsListCommand, toolsListCommand } from './workspace/catalog.ts';
import { eventsExportCommand, eventsTailCommand } from './workspace/events.ts';
import { initCommand } from './workspace/init.ts';
import { doctorCommand } from './workspace/doctor.ts';
import { evalCommands } from './eval/index.ts';
import { ledgerCommands } from './ledger/index.ts';
import { rolloutCommands } from './rollout/index.ts';
import { demoCommand } from './workspace/demo.ts';

/** Every command, in the order help lists them. The CLI and the TUI's palette both read this list. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  chatCommand,
  listCommand,
  showCommand,
  stackCommand,
  watchCommand,
  resumeCommand,
  cancelCommand,
  pauseCommand,
  respondCommand,
  replayCommand,
  branchesCommand,
  forkCommand,
  rewindCommand,
  checkoutCommand,
  diffCommand,
  compensateCommand,
  exportCommand,
  importCommand,
  deleteCommand,
  pruneCommand,
  artifactsListCommand,
  artifactsShowCommand,
  artifactsDiffCommand,
  ...evalCommands,
  ...ledgerCommands,
  ...rolloutCommands,
  agentsListCommand,
  toolsListCommand,
  eventsTailCommand,
  eventsExportCommand,
  initCommand,
  demoCommand,
  doctorCommand,
];

/** Finds the command named by the first words of argv; returns it and the words left over. */
export function findCommand(words: readonly string[]): { command: Command; rest: string[] } | undefined {
  const normalized = [...words];
  if (normalized[0] !== undefined) normalized[0] = GROUP_ALIASES[normalized[0]] ?? normalized[0];
  let best: { command: Command; rest: string[] } | undefined;
  for (const command of COMMANDS) {
    const n = command.path.length;
    if (
      n <= normalized.length &&
      command.path.every((w, i) => normalized[i] === w) &&
      (best === undefined || n > best.command.path.length)
    ) {
      best = { command, rest: normalized.slice(n) };
    }
  }
  return best;
}

export function groupCommands(group: string): Command[] {
  const name = GROUP_ALIASES[group] ?? group;
  return COMMANDS.filter((c) => c.path.length > 1 && c.path[0] === name);
}
