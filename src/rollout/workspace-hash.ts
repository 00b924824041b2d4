import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { sha256 } from '../core/hash.ts';
import { canonicalJson } from '../core/json.ts';
import type { Workspace } from '../app/workspace.ts';

/**
 * What decides how a cell runs, hashed: the personas as loaded, every tool's name, schema and effect, and the code
 * and rubrics of the workspace's folders, and the persona templates a spec's `behavior_template` names. A worker whose hash differs from a job's (other personas, other tools)
 * would run another experiment; it refuses the job.
 */
export function workspaceHash(workspace: Workspace): string {
  const files: Record<string, string> = {};
  // templates/ adds nothing to the hash of a workspace without one, so older workers' hashes still match.
  for (const folder of ['tools', 'evaluators', 'policies', 'rubrics', 'templates']) {
    for (const file of listFiles(join(workspace.root, folder)))
      files[relative(workspace.root, file)] = sha256(readFileSync(file, 'utf8'));
  }
  const personas = [...workspace.personas.values()]
    .map((p) => ({ ...p, source: undefined }))
    .sort((a, b) => a.id.localeCompare(b.id));
  const tools = workspace.tools.names().map((name) => {
    const t = workspace.tools.get(name)!;
    return { name, description: t.description, effect: t.effect, parameters: t.parameters };
  });
  return sha256(canonicalJson({ personas, tools, files, model: workspace.config.model })).slice(0, 16);
}

function listFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && n !== 'node_modules')
    .sort()
    .flatMap((n) => {
      const path = join(dir, n);
      return statSync(path).isDirectory() ? listFiles(path) : [path];
    });
}
