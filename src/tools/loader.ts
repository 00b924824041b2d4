import { join, relative } from 'node:path';
import { UserError, messageOf } from '../core/errors.ts';
import { isTool, type Tool } from './define.ts';
import { importWorkspaceCode, workspaceCodeFiles } from './workspace-code.ts';

/**
 * Loads the workspace's tools: every module in `tools/` (not starting with `_`, not a test), taking each exported
 * value that `defineTool` made, whether default, named, or in an exported array.
 */
export async function loadWorkspaceTools(workspace: string): Promise<Tool[]> {
  const tools: Tool[] = [];
  for (const path of workspaceCodeFiles(join(workspace, 'tools'))) {
    const shown = relative(process.cwd(), path) || path;
    let module: Record<string, unknown>;
    try {
      module = await importWorkspaceCode(path);
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
