import { readFileSync } from 'node:fs';
import module from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

let installed = false;

/**
 * The URLs that workspace code's `'p2tui'` and `'zod'` stand for: this running copy's entry and its zod, with zod's
 * subpaths (`zod/v4`, `zod/mini`, …) from the same copy.
 */
export function workspaceTargets(): Record<string, string> {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith('.ts');
  const entry = pathToFileURL(join(dirname(here), '..', fromSource ? 'index.ts' : 'index.js')).href;
  const zod = import.meta.resolve('zod');
  const targets: Record<string, string> = { p2tui: entry, zod };
  let subpaths: string[] = [];
  try {
    const manifest = JSON.parse(readFileSync(new URL('package.json', zod), 'utf8')) as { exports?: object };
    subpaths = Object.keys(manifest.exports ?? {});
  } catch {
    // A zod laid out otherwise: 'zod' itself is still mapped, its subpaths resolve as Node resolves them.
  }
  for (const subpath of subpaths) {
    if (!subpath.startsWith('./') || subpath.includes('*') || subpath.endsWith('.json')) continue;
    const specifier = `zod/${subpath.slice(2)}`;
    targets[specifier] = import.meta.resolve(specifier);
  }
  return targets;
}

/**
 * Lets workspace tools `import { defineTool, z } from 'p2tui'` (and `from 'zod'`) wherever the workspace lives, by
 * resolving those specifiers to this running copy of p2tui. Using the same module instances keeps one zod.
 */
export function installWorkspaceResolution(): void {
  if (installed) return;
  installed = true;
  const targets = workspaceTargets();
  type ResolveHook = (
    specifier: string,
    context: unknown,
    next: (specifier: string, context: unknown) => { url: string },
  ) => { url: string; shortCircuit?: boolean };
  const registerHooks = (module as unknown as { registerHooks?: (hooks: { resolve: ResolveHook }) => void })
    .registerHooks;
  if (typeof registerHooks === 'function') {
    registerHooks({
      resolve(specifier, context, next) {
        const target = targets[specifier];
        return target === undefined ? next(specifier, context) : { url: target, shortCircuit: true };
      },
    });
    return;
  }
  // Older Node 22 lines: the off-thread loader API.
  const source = `const t = ${JSON.stringify(targets)};
export async function resolve(s, c, n) { return t[s] ? { url: t[s], shortCircuit: true } : n(s, c); }`;
  module.register(`data:text/javascript,${encodeURIComponent(source)}`);
}
