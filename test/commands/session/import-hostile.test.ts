import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { withRawDb } from '../../helpers/raw-db.ts';

/**
 * Crafted bundles through the real CLI against a database that holds another session (the victim): each is
 * refused with its code and exit status 3, names the row and column, and leaves the victim's rows as they were
 * and nothing of the bundle behind.
 */

const ROOT = new URL('../../..', import.meta.url).pathname;
/** Written by `session export` of the main branch before imports were hardened (version 1). */
const FIXTURE = join(ROOT, 'test/fixtures/bundles/v1-main.p2tui.json');

type Row = Record<string, unknown>;
type Bundle = Record<string, unknown> & {
  session: Row;
  events: Row[];
  conversations: Row[];
  modelCalls: Row[];
  artifacts: Row[];
  [key: string]: unknown;
};

let dir = '';
let db = '';
let victim = '';
const fixture = (): Bundle => JSON.parse(readFileSync(FIXTURE, 'utf8')) as Bundle;
const attacker = fixture().session['id'] as string;

/** Everything of the victim's session (every column), and how many sessions and events the database holds. */
function snapshot(): unknown {
  return withRawDb(db, (raw) => ({
    session: raw.prepare('SELECT * FROM sessions WHERE id = ?').get(victim),
    events: raw.prepare('SELECT * FROM events WHERE session_id = ? ORDER BY seq').all(victim),
    conversations: raw.prepare('SELECT * FROM conversations WHERE session_id = ?').all(victim),
    modelCalls: raw.prepare('SELECT * FROM model_calls WHERE session_id = ?').all(victim),
    scores: raw.prepare('SELECT * FROM scores WHERE session_id = ?').all(victim),
    sessions: raw.prepare('SELECT count(*) AS n FROM sessions').get(),
    allEvents: raw.prepare('SELECT count(*) AS n FROM events').get(),
  }));
}

function victimRows(sql: string): Row[] {
  return withRawDb(db, (raw) => raw.prepare(sql).all(victim) as Row[]);
}

let counter = 0;
/** Imports a bundle made from the fixture by `edit` (an object edit, or text to write as it is). */
async function attack(edit: (b: Bundle) => void | string): Promise<CliResult & { file: string }> {
  const bundle = fixture();
  const text = edit(bundle);
  const file = join(dir, `evil-${(counter += 1)}.p2tui.json`);
  writeFileSync(file, typeof text === 'string' ? text : JSON.stringify(bundle));
  const result = await runCli(['session', 'import', file, '--db', db], { cwd: ROOT });
  return { ...result, file };
}

/** The bundle's rows all moved to session `id` (so only the session id is what an attack changes). */
function withSession(b: Bundle, id: unknown): void {
  b.session['id'] = id;
  for (const rows of Object.values(b))
    if (Array.isArray(rows)) for (const row of rows as Row[]) if ('session_id' in row) row['session_id'] = id;
}

/** The database as it was before any attack: a refused import changes nothing. */
let initial: unknown;
let pending: Promise<void>[] = [];

/** Starts an import that must be refused with `code`, exit status 3 and `message` (they run side by side). */
function refused(edit: (b: Bundle) => void | string, code: string, message: (file: string) => string): void {
  pending.push(
    attack(edit).then((r) => {
      expect(r.stderr.split('\n')[0]).toBe(`error ${code}: ${message(r.file)}`);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe('');
    }),
  );
}

/** Every attack started has been refused, and the victim's rows (and the counts of all rows) are as they were. */
async function settled(): Promise<void> {
  const all = pending;
  pending = [];
  await Promise.all(all);
  expect(snapshot()).toEqual(initial);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'p2tui-import-hostile-'));
  db = join(dir, 'p.db');
  const run = await runCli(['run', 'agent_helper', 'weather in Oslo', '--approval', 'deny', '--json', '--db', db], {
    cwd: ROOT,
  });
  expect(run.code).toBe(0);
  victim = (JSON.parse(run.stdout) as { session: string }).session;
  initial = snapshot();
}, 30_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('session import of a crafted bundle', () => {
  it('refuses a column name that would be SQL (an upsert rewriting the victim, a UNION ALL SELECT, __proto__)', async () => {
    const [entry] = victimRows('SELECT id FROM events WHERE session_id = ? ORDER BY seq DESC LIMIT 1');
    const upsert =
      `id) VALUES ('${String(entry!['id'])}', 1, 1, 'entry', 'user_message', '${victim}', NULL, NULL, '{}') ` +
      `ON CONFLICT(id) DO UPDATE SET payload = '{"text":"REWRITTEN BY AN IMPORTED BUNDLE"}' --`;
    refused(
      (b) => {
        b.events[0]![upsert] = 'x';
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: events[0]: unknown column ${JSON.stringify(upsert).slice(0, 77)}…`,
    );
    const union = 'agent, path) SELECT id, agent FROM conversations UNION ALL SELECT id, agent FROM conversations --';
    refused(
      (b) => {
        b.conversations[0]![union] = 'evil';
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: conversations[0]: unknown column ${JSON.stringify(union).slice(0, 77)}…`,
    );
    // `__proto__` as a key in the file is a column like any other, not the row's prototype.
    refused(
      (b) => JSON.stringify(b).replace('{"seq":1,', `{"__proto__":{"session_id":"${victim}"},"seq":1,`),
      'E_BUNDLE_INVALID',
      (f) => `${f}: events[0]: unknown column "__proto__"`,
    );
    await settled();
  });

  it('refuses ids another session has, naming them, and writes nothing of the bundle (one transaction)', async () => {
    refused(
      (b) => withSession(b, victim),
      'E_BUNDLE_CONFLICT',
      () => `session ${victim} is already in this database; nothing was imported`,
    );
    const [entry] = victimRows('SELECT id FROM events WHERE session_id = ? ORDER BY seq LIMIT 1');
    refused(
      (b) => {
        b.events[5]!['id'] = entry!['id'];
      },
      'E_BUNDLE_CONFLICT',
      (f) =>
        `${f}: events[5].id: "${String(entry!['id'])}" is already in this database (a row of another session); nothing was imported`,
    );
    // Renaming the victim's agent through its conversation id.
    const [conversation] = victimRows('SELECT id FROM conversations WHERE session_id = ?');
    refused(
      (b) => {
        b.conversations[0]!['id'] = conversation!['id'];
        b.conversations[0]!['agent'] = 'evil';
      },
      'E_BUNDLE_CONFLICT',
      (f) =>
        `${f}: conversations[0].id: "${String(conversation!['id'])}" is already in this database (a row of another session); nothing was imported`,
    );
    // The last model call collides: the session row and every event before it were written, and are undone.
    const [call] = victimRows('SELECT id FROM model_calls WHERE session_id = ? LIMIT 1');
    refused(
      (b) => {
        b.modelCalls.at(-1)!['id'] = call!['id'];
      },
      'E_BUNDLE_CONFLICT',
      (f) =>
        `${f}: modelCalls[${fixture().modelCalls.length - 1}].id: "${String(call!['id'])}" is already in this database (a row of another session); nothing was imported`,
    );
    await settled();
    expect(victimRows('SELECT agent FROM conversations WHERE session_id = ?')).toEqual([{ agent: 'agent_helper' }]);
    expect(
      withRawDb(db, (raw) => raw.prepare('SELECT count(*) AS n FROM events WHERE session_id = ?').get(attacker)),
    ).toEqual({ n: 0 });
  });

  it('refuses a row of another session, forged artifact bytes, and ids twice in the bundle', async () => {
    refused(
      (b) => {
        b.events[3]!['session_id'] = victim;
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: events[3].session_id: "${victim}" is not the bundle's session ${attacker}`,
    );
    const hash = fixture().artifacts[0]!['hash'] as string;
    refused(
      (b) => {
        b.artifacts[0]!['data'] = Buffer.from('{"report":"forged"}').toString('base64');
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: artifacts[0].data: artifact ${hash} does not hold the bytes its hash names`,
    );
    const first = fixture().events[0]!['id'] as string;
    refused(
      (b) => {
        b.events[1]!['id'] = first;
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: events[1].id: "${first}" appears twice in the bundle`,
    );
    await settled();
  });

  it('refuses events that are not an array, unknown keys, JSON columns that do not parse, events out of order', async () => {
    refused(
      (b) => {
        b.events = { 0: b.events[0] } as unknown as Row[];
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: events: expected an array of rows, got an object`,
    );
    refused(
      (b) => {
        b.events = 'events' as unknown as Row[];
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: events: expected an array of rows, got a string`,
    );
    refused(
      (b) => {
        b['evil'] = [];
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: "evil": unknown key`,
    );
    // Accepted before, and then `session show` crashed on it.
    refused(
      (b) => {
        b.events[2]!['payload'] = '{"text": ';
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: events[2].payload: not valid JSON (Unexpected end of JSON input)`,
    );
    refused(
      (b) => {
        [b.events[4]!['seq'], b.events[5]!['seq']] = [b.events[5]!['seq'], b.events[4]!['seq']];
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: events[5].seq: 5 is not after the previous event's 6: events must be in the log's order`,
    );
    refused(
      (b) => JSON.stringify(b).slice(0, 5000),
      'E_BUNDLE_INVALID',
      (f) => `${f}: events[9]: not valid JSON at byte 5000: the file ends inside a string`,
    );
    await settled();
  });

  it('refuses versions other than 1 saying which it reads, the session id "last", and numbers as ids', async () => {
    for (const version of [0, -7, '1'])
      refused(
        (b) => {
          b['version'] = version;
        },
        'E_BUNDLE_INVALID',
        (f) =>
          `${f}: version: ${JSON.stringify(version)} is not a bundle version; this p2tui reads version 1 (the number 1)`,
      );
    refused(
      (b) => withSession(b, 'last'),
      'E_BUNDLE_INVALID',
      (f) => `${f}: session.id: is a word the CLI reserves (p2tui session show last)`,
    );
    refused(
      (b) => withSession(b, 42),
      'E_BUNDLE_INVALID',
      (f) => `${f}: session.id: Invalid input: expected string, received number`,
    );
    refused(
      (b) => {
        b.events[0]!['id'] = 7;
      },
      'E_BUNDLE_INVALID',
      (f) => `${f}: events[0].id: Invalid input: expected string, received number`,
    );
    await settled();
  });

  it('imports a version-1 bundle written by the exporter before this change, next to the victim', async () => {
    const r = await runCli(['session', 'import', FIXTURE, '--db', db], { cwd: ROOT });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toBe(`imported ${attacker} (36 events)`);
    const shown = await runCli(['session', 'show', attacker, '--db', db], { cwd: ROOT });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`${attacker}  finished  lead  "go"`);
    const again = await runCli(['session', 'show', victim, '--db', db], { cwd: ROOT });
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Oslo: 4 °C, snow showers.');
  });
});
