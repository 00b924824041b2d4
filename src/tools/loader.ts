import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UserError, messageOf } from '../core/errors.ts';
import { isTool, type Tool } from './define.ts';
import { installWorkspaceResolution } from './resolution.ts';

const TOOL_FILE = /^(?!_)(?!.*\.(test|spec|d)\.[cm]?[jt]s$).*\.(m?ts|m?js)$/;

/**
 * Loads the workspace's tools: every module in `tools/` (not starting with `_`, not a test), taking each exported
 * value that `defineTool` made, whether default, named, or in an exported array.
 */
export async function loadWorkspaceTools(workspace: string): Promise<Tool[]> {
  const folder = join(workspace, 'tools');
  if (!existsSync(folder)) return [];
  const files = readdirSync(folder)
    .filter((f) => TOOL_FILE.test(f))
    .sort();
  if (files.length === 0) return [];
  installWorkspaceResolution();
  const tools: Tool[] = [];
  for (const file of files) {
    const path = join(folder, file);
    const shown = relative(process.cwd(), path) || path;
    if (/\.m?ts$/.test(file) && !nodeStripsTypes()) {
      throw new UserError(
        'E_TOOL_INVALID',
        `${shown}: this Node (${process.version}) cannot load TypeScript tool files`,
        {
          hint: 'Run p2tui through its bin (it enables type stripping), use Node 22.18 or newer, or write the tool as .mjs.',
          location: { file: shown },
        },
      );
    }
    let module: Record<string, unknown>;
    try {
      module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (error) {
      throw new UserError('E_TOOL_INVALID', `${shown}: failed to load: ${messageOf(error)}`, {
        hint: 'Fix the error in the tool file (or rename it to start with _ to skip it).',
        location: { file: shown },
        cause: error,
      });
    }
    const found: Tool[] = [];
    for (const value of Object.values(module)) {
      const candidates = Array.isArray(value) ? value : [value];
      for (const candidate of candidates) if (isTool(candidate) && !found.includes(candidate)) found.push(candidate);
    }
    if (found.length === 0) {
      throw new UserError('E_TOOL_INVALID', `${shown}: exports no tool`, {
        hint: "Export a tool made with defineTool (import { defineTool, z } from 'p2tui'), or rename the file to start with _ to skip it.",
        location: { file: shown },
      });
    }
    for (const tool of found) {
      tool.source = shown;
      tools.push(tool);
    }
  }
  return tools;
}

function nodeStripsTypes(): boolean {
  const features = process.features as { typescript?: string | false };
  return typeof features.typescript === 'string';
}
