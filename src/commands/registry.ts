import type { Command } from './types.ts';
import { runCommand } from './run.ts';
import { chatCommand } from './chat.ts';
import { sessionCommands } from './session-commands.ts';
import { branchCommands } from './branch-commands.ts';
import { artifactCommands } from './artifact-commands.ts';
import { bundleCommands } from './bundle-commands.ts';
import { catalogCommands } from './catalog.ts';
import { eventCommands } from './events.ts';
import { initCommand } from './init.ts';
import { doctorCommand } from './doctor.ts';
import { evalCommands } from './eval-commands.ts';
import { ledgerCommands } from './ledger-commands.ts';
import { rolloutCommands } from './rollout-commands.ts';

/** Every command, in the order help lists them. The CLI and the TUI's palette both read this list. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  chatCommand,
  ...sessionCommands,
  ...branchCommands,
  ...bundleCommands,
  ...artifactCommands,
  ...evalCommands,
  ...ledgerCommands,
  ...rolloutCommands,
  ...catalogCommands,
  ...eventCommands,
  initCommand,
  doctorCommand,
];

/** Other names for command groups (P2Engine users know sessions as conversations). */
export const GROUP_ALIASES: Readonly<Record<string, string>> = {
  conversation: 'session',
  conversations: 'session',
  sessions: 'session',
  agent: 'agents',
  tool: 'tools',
  event: 'events',
  artifact: 'artifacts',
  rubric: 'rubrics',
};

export const GROUP_SUMMARIES: Readonly<Record<string, string>> = {
  session: 'Inspect, follow, control, branch, compare and move sessions (alias: conversation)',
  artifacts: 'Tool outputs, files and results of a session: list, show, compare',
  eval: 'The judge: score a session now, show its scores, rank its branches (CI gates with --fail-under)',
  rubrics: 'Rubrics the judge scores against: list, lint',
  ledger: 'Agent wallets on the embedded ledger: init, balance, transfer, history, audit, overview',
  agents: 'The personas of the workspace',
  tools: 'The tools of the workspace',
  events: 'The event log',
};

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
