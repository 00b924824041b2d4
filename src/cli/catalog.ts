import { readFileSync } from 'node:fs';
import { P2Error } from '../core/errors.ts';
import type { CommandInfo } from '../commands/find.ts';
import type { Command } from '../commands/types.ts';

/**
 * The commands the CLI knows, without loading them. Importing the registry loads every command's module (about a
 * hundred files, half of `p2tui --help`'s start), so the build (scripts/build.mjs) writes every command's declaration
 * (words, summary, arguments, options: what help and the parser read) from the registry into
 * dist/commands/manifest.json with the module that exports it; the CLI then loads only the command it runs. Run from
 * source, where no manifest is written, the registry itself is the catalog, so the two cannot differ in what they say.
 */

/** A command's declaration as the build wrote it, and where its module exports it (an array's `index`-th, maybe). */
export interface ManifestEntry extends CommandInfo {
  /** Relative to dist/commands/, e.g. `session/inspect.js`. */
  readonly module: string;
  readonly export: string;
  readonly index?: number;
}

export interface Catalog {
  readonly commands: readonly CommandInfo[];
  /** The command with its handler: its module loaded. */
  load(command: CommandInfo): Promise<Command>;
}

const COMMANDS_DIR = new URL('../commands/', import.meta.url);
export const MANIFEST_FILE = 'manifest.json';

export async function commandCatalog(): Promise<Catalog> {
  let text: string | undefined;
  try {
    text = readFileSync(new URL(MANIFEST_FILE, COMMANDS_DIR), 'utf8');
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    const { COMMANDS } = await import('../commands/registry.ts');
    return {
      commands: COMMANDS,
      load: (info) => Promise.resolve(COMMANDS.find((c) => c === info) ?? stale(info)),
    };
  }
  const entries = (JSON.parse(text) as { commands: ManifestEntry[] }).commands;
  return {
    commands: entries,
    load: async (info) => {
      const entry = entries.find((e) => e === info);
      if (entry === undefined) return stale(info);
      const exports = (await import(new URL(entry.module, COMMANDS_DIR).href)) as Record<string, unknown>;
      const value = exports[entry.export];
      const command = (entry.index === undefined ? value : Array.isArray(value) ? value[entry.index] : undefined) as
        Command | undefined;
      // The manifest is written by the same build as the modules; a hand-copied dist/ could still mix two builds.
      if (command === undefined || command.path.join(' ') !== entry.path.join(' ')) return stale(info);
      return command;
    },
  };
}

function stale(info: CommandInfo): never {
  throw new P2Error('E_INTERNAL', `p2tui ${info.path.join(' ')}: the built command list does not match the build`, {
    hint: 'Build p2tui again: npm run build.',
  });
}
