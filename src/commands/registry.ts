import type { Command } from './types.ts';
import { findIn, groupIn } from './find.ts';
import { runCommand } from './run/run.ts';
import { chatCommand } from './run/chat.ts';
import { listCommand, showCommand, stackCommand } from './session/inspect.ts';
import { cancelCommand, pauseCommand, resumeCommand, respondCommand, watchCommand } from './session/control.ts';
import { replayCommand } from './session/replay.ts';
import { branchesCommand, compensateCommand, diffCommand } from './session/branches.ts';
import { checkoutCommand, forkCommand, rewindCommand } from './session/fork.ts';
import { deleteCommand, exportCommand, importCommand, pruneCommand } from './session/bundles.ts';
import { conversationPruneCommand } from './session/branch-prune.ts';
import { chatResumeCommand, chatWithCommand } from './run/chat-aliases.ts';
import { configCommands } from './session/config.ts';
import { artifactsDiffCommand, artifactsListCommand, artifactsShowCommand } from './session/artifacts.ts';
import { agentsListCommand, toolsListCommand } from './workspace/catalog.ts';
import { eventsExportCommand, eventsTailCommand } from './workspace/events.ts';
import { initCommand } from './workspace/init.ts';
import { doctorCommand } from './workspace/doctor.ts';
import { evalCommands } from './eval/index.ts';
import { ledgerCommands } from './ledger/index.ts';
import { rolloutCommands } from './rollout/index.ts';
import { demoCommand } from './workspace/demo.ts';
import { migrateP2EngineCommand } from './migrate/p2engine.ts';
import { reportCommands } from './report/index.ts';

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
  ...reportCommands,
  agentsListCommand,
  toolsListCommand,
  eventsTailCommand,
  eventsExportCommand,
  initCommand,
  demoCommand,
  doctorCommand,
  // P2Engine's command names (issue 19): chat with/resume, config set-tools/set-behavior/show-overrides, conversation prune.
  chatWithCommand,
  chatResumeCommand,
  ...configCommands,
  conversationPruneCommand,
  // Moving to p2tui from P2Engine (issue 20).
  migrateP2EngineCommand,
];

/** Finds the command named by the first words of argv; returns it and the words left over. */
export function findCommand(words: readonly string[]): { command: Command; rest: string[] } | undefined {
  return findIn(COMMANDS, words);
}

export function groupCommands(group: string): Command[] {
  return groupIn(COMMANDS, group);
}
