import { join, relative } from 'node:path';
import { UserError, messageOf } from '../core/errors.ts';
import { importWorkspaceCode, workspaceCodeFiles } from '../tools/workspace-code.ts';

/**
 * Loads the values a `define…` function made from every module of a workspace folder (not starting with `_`, not
 * a test), whether default, named or in an exported array. Ids must be unique across the folder.
 */
export async function loadWorkspaceModules<T extends { readonly id: string; source: string }>(
  root: string,
  folder: string,
  accept: (value: unknown) => value is T,
  what: string,
): Promise<Map<string, T>> {
  const found = new Map<string, T>();
  for (const path of workspaceCodeFiles(join(root, folder))) {
    const shown = relative(process.cwd(), path) || path;
    let module: Record<string, unknown>;
    try {
      module = await importWorkspaceCode(path);
    } catch (error) {
      throw new UserError('E_CONFIG', `${shown}: failed to load: ${messageOf(error)}`, {
        hint: `Fix the ${what} file (or rename it to start with _ to skip it).`,
        location: { file: shown },
        cause: error,
      });
    }
    for (const value of Object.values(module)) {
      for (const candidate of Array.isArray(value) ? value : [value]) {
        if (!accept(candidate)) continue;
        const clash = found.get(candidate.id);
        if (clash !== undefined && clash !== candidate) {
          throw new UserError('E_CONFIG', `${shown}: ${what} '${candidate.id}' is also defined in ${clash.source}`, {
            hint: `Give each ${what} its own id.`,
            location: { file: shown },
          });
        }
        candidate.source = shown;
        found.set(candidate.id, candidate);
      }
    }
  }
  return found;
}
