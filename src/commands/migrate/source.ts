import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { z } from 'zod';
import { UserError } from '../../core/errors.ts';
import { parseYamlWith } from '../../core/yaml-schema.ts';

/*
 * Reading a P2Engine checkout: where its Python project is (the repository root or its `p2engine/` folder), and the
 * files the migration carries over. Nothing here writes; every file that cannot be read is named.
 */

/** What a P2Engine folder holds, relative to it (the inventory of P2Engine's layout). */
export const P2ENGINE_MARKERS = [
  'config/agents.yml',
  'config/*.yml (rollouts)',
  'infra/evals/rubrics/*.jinja',
  'agents/templates/',
  'tools/*.py',
] as const;

/**
 * The P2Engine folder of a checkout: the folder itself when it has P2Engine's layout, else its `p2engine/` folder
 * (P2Engine's repository keeps the Python project there). `config/agents.yml` decides first; then any other marker.
 */
export function findP2EngineFolder(checkout: string): string {
  if (!existsSync(checkout)) {
    throw new UserError('E_MIGRATE_SOURCE', `migrate: ${checkout} does not exist; nothing was written`, {
      hint: 'Name the folder of a P2Engine checkout (its repository root or its p2engine/ folder).',
    });
  }
  if (!statSync(checkout).isDirectory()) {
    throw new UserError(
      'E_MIGRATE_SOURCE',
      `migrate: ${checkout} is a file, not a P2Engine folder; nothing was written`,
      {
        hint: 'Name the folder of a P2Engine checkout (its repository root or its p2engine/ folder).',
      },
    );
  }
  const candidates = [checkout, join(checkout, 'p2engine')];
  const withAgents = candidates.find((dir) => isFile(join(dir, 'config', 'agents.yml')));
  if (withAgents !== undefined) return withAgents;
  const withOther = candidates.find(
    (dir) =>
      yamlFiles(join(dir, 'config')).length > 0 ||
      filesWith(join(dir, 'infra', 'evals', 'rubrics'), '.jinja').length > 0 ||
      isFolder(join(dir, 'agents', 'templates')) ||
      filesWith(join(dir, 'tools'), '.py').length > 0,
  );
  if (withOther !== undefined) return withOther;
  throw new UserError(
    'E_MIGRATE_SOURCE',
    `migrate: ${checkout} is not a P2Engine folder: looked for ${P2ENGINE_MARKERS.join(', ')} in it and in its ` +
      'p2engine/ folder, and found none; nothing was written',
    { hint: 'Name the repository root of a P2Engine checkout, or its p2engine/ folder.' },
  );
}

/** A file's text; a file that cannot be read stops the migration, named. */
export function readSource(path: string, shown: string): string {
  return readSourceBytes(path, shown).toString('utf8');
}

/** A file's bytes (carried verbatim); a file that cannot be read stops the migration, named. */
export function readSourceBytes(path: string, shown: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const reason = (error as { code?: unknown }).code;
    throw new UserError(
      'E_MIGRATE_SOURCE',
      `migrate: cannot read ${shown}${typeof reason === 'string' ? ` (${reason})` : ''}; nothing was written`,
      { hint: 'Check that the file exists and that you may read it.', location: { file: shown }, cause: error },
    );
  }
}

/** A YAML file's value; a syntax error names the file, line and column (E_MIGRATE_SOURCE, exit 3). */
export function parseSourceYaml(text: string, shown: string): unknown {
  return parseYamlWith(z.unknown(), text, shown, {
    code: 'E_MIGRATE_SOURCE',
    hint: 'Fix the YAML at that line in the P2Engine checkout, then migrate again; nothing was written.',
  }).value;
}

/** `config/*.yml` and `*.yaml`, sorted (P2Engine read its rollouts and agents from there). */
export function yamlFiles(dir: string): string[] {
  return [...filesWith(dir, '.yml'), ...filesWith(dir, '.yaml')].sort();
}

/** Names of the files of a folder with an extension, sorted; none when the folder is missing. */
export function filesWith(dir: string, extension: string): string[] {
  if (!isFolder(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(extension))
    .map((e) => e.name)
    .sort();
}

/** Every file under a folder, as paths relative to it with `/`, sorted. */
export function filesUnder(dir: string): string[] {
  if (!isFolder(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .filter((path) => !path.split('/').some((part) => part === '__pycache__'))
    .sort();
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** One `@function_tool` of a Python file: the tool's name and where it is declared. */
export interface PythonTool {
  readonly name: string;
  /** Relative to the P2Engine folder, e.g. `tools/weather_tool.py`. */
  readonly file: string;
  readonly line: number;
}

/**
 * The tools a P2Engine tool module registers: every `@function_tool(...)` decorator, named by its `name=` argument
 * (or its first positional string), else by the decorated function (what P2Engine's registry would have needed).
 * Python is not run: the decorator's arguments are read as text, brackets and strings balanced.
 */
export function pythonTools(text: string, file: string): PythonTool[] {
  const tools: PythonTool[] = [];
  const decorator = /^[ \t]*@(?:[A-Za-z_][\w.]*\.)?function_tool\b/gm;
  for (let match = decorator.exec(text); match !== null; match = decorator.exec(text)) {
    const line = text.slice(0, match.index).split('\n').length;
    let end = match.index + match[0].length;
    let args = '';
    if (text[end] === '(') {
      const close = closingBracket(text, end);
      args = text.slice(end + 1, close);
      end = close + 1;
    }
    const parts = topLevelArguments(args);
    const literal = (part: string | undefined): string | undefined =>
      /^[rbuRBU]?(["'])((?:(?!\1)[^\\\n]|\\.)*)\1$/.exec(part ?? '')?.[2];
    const named = parts.map((p) => /^name\s*=\s*([\s\S]+)$/.exec(p)?.[1]).find((v) => v !== undefined);
    const positional = parts[0] !== undefined && !/^\w+\s*=/.test(parts[0]) ? literal(parts[0]) : undefined;
    const fn = /^\s*(?:@[^\n]*\n\s*)*(?:async\s+)?def\s+([A-Za-z_]\w*)/.exec(text.slice(end));
    const name = literal(named) ?? positional ?? fn?.[1];
    if (name !== undefined) tools.push({ name, file, line });
  }
  return tools;
}

/** The index of the bracket closing the one at `open`, skipping strings and comments; the text's end if none. */
function closingBracket(text: string, open: number): number {
  let depth = 0;
  let found = text.length;
  scan(text, open, (c, i, comment) => {
    if (comment) return false;
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') {
      depth--;
      if (depth === 0) {
        found = i;
        return true;
      }
    }
    return false;
  });
  return found;
}

/** A call's arguments split at its top-level commas, comments removed, each trimmed (`name="x"`, `"x"`, …). */
function topLevelArguments(args: string): string[] {
  let clean = '';
  let last = 0;
  const cuts: number[] = [];
  let depth = 0;
  scan(args, 0, (c, i, comment) => {
    if (comment) {
      clean += args.slice(last, i);
      const newline = args.indexOf('\n', i);
      last = newline < 0 ? args.length : newline;
      return false;
    }
    if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) cuts.push(clean.length + i - last);
    return false;
  });
  clean += args.slice(last);
  const parts: string[] = [];
  let from = 0;
  for (const cut of [...cuts, clean.length]) {
    parts.push(clean.slice(from, cut).trim());
    from = cut + 1;
  }
  return parts.filter((p) => p !== '');
}

/**
 * Walks Python source from `start`, calling `visit` with each character outside string literals (a comment's `#` is
 * visited with `comment` true, and the rest of its line is skipped); stops when `visit` returns true.
 */
function scan(text: string, start: number, visit: (c: string, i: number, comment: boolean) => boolean): void {
  for (let i = start; i < text.length; i++) {
    const c = text[i]!;
    if (c === '#') {
      if (visit(c, i, true)) return;
      const newline = text.indexOf('\n', i);
      i = (newline < 0 ? text.length : newline) - 1;
    } else if (c === '"' || c === "'") {
      const quote = text.startsWith(c.repeat(3), i) ? c.repeat(3) : c;
      let j = i + quote.length;
      while (j < text.length && !text.startsWith(quote, j)) j += text[j] === '\\' ? 2 : 1;
      i = j + quote.length - 1;
    } else if (visit(c, i, false)) return;
  }
}
