import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/**
 * Creates a folder and its missing parents, one level at a time. Node's `mkdirSync(…, { recursive: true })` loops
 * forever where a parent exists but refuses new entries with ENOENT (anything under /proc), so p2tui never uses it:
 * here each level is made once and the first refusal is thrown (with its errno code and path).
 */
export function makeFolder(path: string): void {
  const target = resolve(path);
  const missing: string[] = [];
  let current = target;
  for (;;) {
    let exists: boolean;
    try {
      exists = statSync(current).isDirectory() || notAFolder(current);
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ENOENT') throw error;
      exists = false;
    }
    if (exists) break;
    const parent = dirname(current);
    missing.push(current);
    if (parent === current) break;
    current = parent;
  }
  for (const folder of missing.reverse()) {
    try {
      mkdirSync(folder);
    } catch (error) {
      // Made by another process meanwhile: fine, as long as it is a folder.
      if ((error as { code?: unknown }).code !== 'EEXIST' || !statSync(folder).isDirectory()) throw error;
    }
  }
}

/** A path that exists but is a file: mkdir under it would fail with ENOTDIR, so say so now. */
function notAFolder(path: string): never {
  const error = new Error(`ENOTDIR: not a directory, mkdir '${path}'`) as Error & {
    code: string;
    path: string;
    syscall: string;
  };
  error.code = 'ENOTDIR';
  error.path = path;
  error.syscall = 'mkdir';
  throw error;
}
