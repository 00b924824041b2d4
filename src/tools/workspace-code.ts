import { accessSync, constants, existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installWorkspaceResolution, workspaceTargets } from './resolution.ts';

/** A workspace code file: TypeScript or JavaScript, not starting with `_`, not a test or a declaration file. */
const CODE_FILE = /^(?!_)(?!.*\.(test|spec|d)\.[cm]?[jt]s$).*\.(m?ts|m?js)$/;

/** The code files of one workspace folder (`tools/`, `evaluators/`, `policies/`), sorted; none when it is absent. */
export function workspaceCodeFiles(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .filter((f) => CODE_FILE.test(f))
    .sort()
    .map((f) => join(folder, f));
}

interface Importer {
  import(id: string): Promise<unknown>;
}

let importer: Promise<Importer> | undefined;

/**
 * Imports one workspace code file (tool, evaluator, score policy) and returns its exports.
 *
 * Node's own loader cannot be trusted with these files: it strips types only outside node_modules (a workspace
 * copied by `npm install` or `--workspace node_modules/p2tui` fails), and it reads `"type"` from whatever
 * package.json is nearest (`npm init -y` writes "commonjs", so `import` fails; no "type" prints a MODULE_TYPELESS
 * warning on every command). jiti transforms TypeScript and ESM itself, so neither the folder nor the user's
 * package.json matters. It is imported here, on the first workspace code file, so commands in a workspace without
 * code never load it (start-up stays fast).
 */
export async function importWorkspaceCode(path: string): Promise<Record<string, unknown>> {
  // jiti hands plain .mjs files (and .js under "type": "module") to Node's import: those resolve 'p2tui' through the hook.
  installWorkspaceResolution();
  importer ??= createImporter();
  const module = await (await importer).import(path);
  return (typeof module === 'object' && module !== null ? module : { default: module }) as Record<string, unknown>;
}

async function createImporter(): Promise<Importer> {
  const targets = workspaceTargets();
  // `import … from 'p2tui'` (and 'zod') must reach this running copy, not a second one that jiti would compile:
  // one zod, one set of brands, and no second start-up. zod's files are ES modules in a "type": "module" package,
  // which jiti hands to Node's import (the same instances); p2tui's entry may be TypeScript (run from a clone), which
  // jiti would compile, so this process's own entry is put in require's cache, where jiti looks first.
  const alias: Record<string, string> = {};
  for (const [specifier, url] of Object.entries(targets)) alias[specifier] = fileURLToPath(url);
  const require = createRequire(import.meta.url);
  const entry = alias['p2tui']!;
  if (require.cache[entry] === undefined) {
    const exports = (await import(targets['p2tui']!)) as object;
    require.cache[entry] = { id: entry, filename: entry, loaded: true, exports } as NodeJS.Module;
  }
  const { createJiti } = await import('jiti');
  // interopDefault off: the loaders read the module's own exports (named, default, arrays) and no proxy around them.
  return createJiti(import.meta.url, { alias, interopDefault: false, fsCache: privateCacheFolder() });
}

/**
 * Where jiti keeps compiled workspace code between runs (compiling costs about a second per start without it).
 * Not jiti's default, a shared `$TMPDIR/jiti`: whoever creates that folder first decides what the others run (a
 * cached file is trusted if it ends with the source's hash, which anyone who can read the source can write), and
 * a folder another user made is not writable, which would fail every load. This one is the user's own: created
 * with mode 700, and used only while it is a real folder owned by this user that nobody else can write to;
 * otherwise there is no cache.
 */
export function privateCacheFolder(): string | false {
  const uid = process.getuid?.();
  if (uid === undefined) return false;
  const folder = join(tmpdir(), `p2tui-jiti-${uid}`);
  try {
    mkdirSync(folder, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') return false;
  }
  try {
    const stat = lstatSync(folder);
    if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) return false;
    accessSync(folder, constants.W_OK);
    return folder;
  } catch {
    return false;
  }
}
