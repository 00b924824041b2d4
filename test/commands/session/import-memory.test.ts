import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAIN } from '../../helpers/cli.ts';
import { childEnv } from '../../helpers/child-env.ts';
import { withRawDb } from '../../helpers/raw-db.ts';

/**
 * A large bundle (a 48 MB artifact and 12,000 events, about 77 MB) imported by a real `p2tui session import`
 * process: its peak memory (maxRSS, reported by the child itself) stays within three times the file's size.
 * Before imports were streamed, the whole file, its string and its object tree were in memory at once (a 105 MB
 * bundle took 1.7 GB).
 */

const ROOT = new URL('../../..', import.meta.url).pathname;
const FIXTURE = join(ROOT, 'test/fixtures/bundles/v1-main.p2tui.json');
const dir = mkdtempSync(join(tmpdir(), 'p2tui-import-memory-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Row = Record<string, unknown>;

/** Writes the fixture's session with `events` more entries and `artifacts` blobs of `bytes` random bytes each. */
function bigBundle(file: string, events: number, artifacts: number, bytes: number): string[] {
  const base = JSON.parse(readFileSync(FIXTURE, 'utf8')) as Record<string, Row[] | Row | string | number>;
  const session = (base['session'] as Row)['id'] as string;
  const last = (base['events'] as Row[]).at(-1)!;
  const fd = openSync(file, 'w');
  const put = (text: string): void => void writeSync(fd, text);
  const hashes: string[] = [];
  put('{');
  let first = true;
  for (const [key, value] of Object.entries(base)) {
    put(`${first ? '' : ','}${JSON.stringify(key)}:`);
    first = false;
    if (key === 'events') {
      put(`[${(value as Row[]).map((e) => JSON.stringify(e)).join(',')}`);
      const text = 'x'.repeat(900);
      for (let i = 1; i <= events; i++) {
        const row = { ...last, seq: (last['seq'] as number) + i, id: `e_big${i.toString(36)}`, type: 'entry' };
        put(`,${JSON.stringify({ ...row, kind: 'user_message', payload: JSON.stringify({ text }) })}`);
      }
      put(']');
    } else if (key === 'artifacts') {
      put(`[${(value as Row[]).map((a) => JSON.stringify(a)).join(',')}`);
      for (let i = 0; i < artifacts; i++) {
        const data = randomBytes(bytes);
        const hash = createHash('sha256').update(data).digest('hex');
        hashes.push(hash);
        put(`,{"hash":"${hash}","size":${bytes},"mime":"application/octet-stream","data":"`);
        put(data.toString('base64'));
        put('","created_at":1}');
      }
      put(']');
    } else if (key === 'artifactRefs') {
      const refs = hashes.map((hash, i) => ({
        id: `a_big${i}`,
        hash,
        session_id: session,
        branch_id: null,
        conversation_id: null,
        entry_id: null,
        kind: 'file',
        name: `big${i}.bin`,
        meta: '{}',
        created_at: 1,
      }));
      put(JSON.stringify([...(value as Row[]), ...refs]));
    } else put(JSON.stringify(value));
  }
  put('}\n');
  closeSync(fd);
  return hashes;
}

/** Runs the import as its own process, which reports its peak resident memory (kilobytes) as it exits. */
function importWithPeak(file: string, db: string): Promise<{ code: number | null; stderr: string; peak: number }> {
  const report = `process.on('exit', () => process.stderr.write('maxrss ' + process.resourceUsage().maxRSS + '\\n'))`;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', `data:text/javascript,${encodeURIComponent(report)}`, MAIN, 'session', 'import', file, '--db', db],
      { cwd: ROOT, env: childEnv(), stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, stderr, peak: Number(/maxrss (\d+)/.exec(stderr)?.[1] ?? NaN) * 1024 }),
    );
  });
}

/**
 * `p2tui artifacts show <hash> --raw | …`: the bytes a user gets back through a pipe, hashed. (A pipe is written
 * asynchronously: before main waited for stdout to drain, its exit cut a large write short at 64 KB.)
 */
function shownHash(hash: string, db: string): Promise<{ code: number | null; sha256: string; size: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, 'artifacts', 'show', hash, '--raw', '--db', db], {
      cwd: ROOT,
      env: childEnv(),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const sha = createHash('sha256');
    let size = 0;
    child.stdout.on('data', (chunk: Buffer) => {
      sha.update(chunk);
      size += chunk.length;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, sha256: sha.digest('hex'), size }));
  });
}

describe('session import of a large bundle', () => {
  it('streams it: peak memory at most three times the file size, every byte and event stored', async () => {
    const file = join(dir, 'big.p2tui.json');
    const size = 48 * 1024 * 1024;
    const [hash] = bigBundle(file, 12_000, 1, size);
    const bytes = statSync(file).size;
    expect(bytes).toBeGreaterThan(75 * 1024 * 1024);
    const db = join(dir, 'big.db');
    const r = await importWithPeak(file, db);
    expect(r.stderr).toMatch(/^maxrss \d+\n$/);
    expect(r.code).toBe(0);
    expect(r.peak).toBeLessThan(3 * bytes);
    expect(withRawDb(db, (raw) => raw.prepare('SELECT count(*) AS n FROM events').get())).toEqual({ n: 12_036 });
    // The artifact was stored in chunks, and reads back whole, byte for byte.
    expect(await shownHash(hash!, db)).toEqual({ code: 0, sha256: hash, size });
  }, 60_000);
});
