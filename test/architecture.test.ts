import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * The parts of the architecture a linter does not check (the import boundaries are `npm run lint`'s, through
 * .dependency-cruiser.cjs): SQL lives in src/store/, and a source file stays short enough to read.
 */
const ROOT = join(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

const files = sources(join(ROOT, 'src')).map((path) => ({
  path: relative(ROOT, path),
  text: readFileSync(path, 'utf8'),
}));

describe('architecture', () => {
  it('keeps every SQL statement in src/store/', () => {
    const sql =
      /\b(SELECT\s+[\w*]|INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|UPDATE\s+\w+\s+SET|PRAGMA\s+\w)/;
    const outside = files.filter((f) => !f.path.startsWith('src/store/') && sql.test(f.text)).map((f) => f.path);
    expect(outside).toEqual([]);
  });

  it('has no source file over 450 lines without a reason at its top', () => {
    // A longer file says why in its first comment, with the words "Long because".
    const long = files
      .filter((f) => f.text.split('\n').length > 450 && !/^[\s\S]{0,600}Long because/.test(f.text))
      .map((f) => `${f.path} (${f.text.split('\n').length} lines)`);
    expect(long).toEqual([]);
  });
});
