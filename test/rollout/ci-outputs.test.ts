import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { junitXml } from '../../src/core/junit.ts';
import { MAIN, runCli, type CliResult } from '../helpers/cli.ts';
import { childEnv } from '../helpers/child-env.ts';
import { HOST_REQUIRED, unavailable } from '../helpers/host-tools.ts';
import { openAIServer, type ModelServer } from '../helpers/model-servers.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * The CI outputs of `rollout run` and `eval run`: `--junit <file>` validated with xmllint against the Ant JUnit
 * schema (test/fixtures/junit/JUnit.xsd, from github.com/windyroad/JUnit-Schema, Apache License 2.0), and
 * `rollout run --jsonl` read line by line while the rollout still runs.
 */

const XSD = join(import.meta.dirname, '../fixtures/junit/JUnit.xsd');
const haveXmllint = HOST_REQUIRED || spawnSync('xmllint', ['--version'], { encoding: 'utf8' }).status === 0;

/** xmllint's verdict on a file against the schema: '' when valid, else what it said. */
function invalidity(file: string): string {
  const r = spawnSync('xmllint', ['--noout', '--schema', XSD, file], { encoding: 'utf8' });
  if (r.error !== undefined) throw r.error;
  return r.status === 0 ? '' : `${r.stderr}`;
}

interface Case {
  readonly suite: string;
  readonly name: string;
  readonly classname: string;
  readonly failure: { readonly message: string; readonly type: string; readonly text: string } | null;
  readonly skipped: boolean;
}

/** The test cases of a (valid) JUnit file, read by xmllint's parser, not by a regular expression over the text. */
function casesOf(file: string): Case[] {
  // xmllint --xpath prints the matched nodes; a JSON of them is built by one XPath per case instead (no XML
  // library in this project): the count first, then each case's attributes and failure.
  // xmllint ends what it prints with a line break of its own.
  const xpath = (expr: string): string =>
    (spawnSync('xmllint', ['--xpath', expr, file], { encoding: 'utf8' }).stdout ?? '').replace(/\n$/, '');
  const count = Number(xpath('count(//testcase)'));
  const out: Case[] = [];
  for (let i = 1; i <= count; i++) {
    const at = `(//testcase)[${i}]`;
    const failed = Number(xpath(`count(${at}/failure)`)) === 1;
    out.push({
      suite: xpath(`string(${at}/../@name)`),
      name: xpath(`string(${at}/@name)`),
      classname: xpath(`string(${at}/@classname)`),
      failure: failed
        ? {
            message: xpath(`string(${at}/failure/@message)`),
            type: xpath(`string(${at}/failure/@type)`),
            text: xpath(`string(${at}/failure)`),
          }
        : null,
      skipped: Number(xpath(`count(${at}/skipped)`)) === 1,
    });
  }
  return out;
}

/** Text a model could send: ends a CDATA section and the element, opens a tag, controls, a non-character. */
const HOSTILE = 'bad ]]></failure></testcase><x a="1"> & \'q\' \u0001\u001b[31m\u0007 \uFFFF \uD800 tail';

const SPEC = stringify({
  teams: {
    weather: {
      initial_message: 'What is the weather in Paris today?',
      base: { agent_id: 'forecaster' },
      variants: [
        { id: 'plain', temperature: 0 },
        { id: 'gloomy', agent_id: 'gloomy' },
        { id: 'broken', model: 'openai/gpt-4o' },
      ],
    },
  },
  repeats: 2,
  judge: { evaluators: [{ id: 'sunny', kind: 'assert', assert: [{ contains: 'sunny' }], on: 'demand' }] },
});

let ws: TempWorkspace;
let server: ModelServer;
const env = { OPENAI_API_KEY: 'sk-test-0123456789' };
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir, env });

beforeAll(async () => {
  server = await openAIServer(['gpt-4o']);
  // Every call to the real-protocol model is refused: the variant that uses it fails its cells.
  server.queue({ kind: 'error', status: 400, message: 'refused' });
  ws = tempWorkspace({
    'rollouts/ci.yaml': SPEC,
    'p2tui.yaml': stringify({
      providers: { openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false } },
      judge: { evaluators: [{ id: 'snowy', kind: 'assert', assert: [{ contains: 'snow' }] }] },
    }),
  });
  ws.persona({
    id: 'forecaster',
    description: 'Weather.',
    script: [{ when: '.', steps: [{ reply: 'The weather in Paris today is sunny, 22 °C.' }] }],
  });
  ws.persona({
    id: 'gloomy',
    description: 'Rain.',
    script: [{ when: '.', steps: [{ reply: 'Rain in Paris all day.' }] }],
  });
  ws.persona({
    id: 'sleepy',
    description: 'Slow weather.',
    model: 'scripted/slow',
    script: [{ when: '.', steps: [{ reply: 'Sunny.' }] }],
  });
  ws.write(
    'rollouts/slow.yaml',
    stringify({
      teams: { w: { initial_message: 'Weather?', base: { agent_id: 'sleepy' }, variants: [{ id: 'a' }, { id: 'b' }] } },
      repeats: 2,
      concurrency: 1,
      judge: { workspace: false },
    }),
  );
}, 30_000);
afterAll(async () => {
  ws.cleanup();
  await server.close();
});

describe('rollout run --junit', () => {
  it('writes a valid report with a case per cell and per gate and variant even when a gate fails (exit 1)', async (t) => {
    if (!haveXmllint) return unavailable(t.skip, 'xmllint (Debian: libxml2-utils) is not installed');
    const file = join(ws.dir, 'out', 'junit.xml');
    mkdirSync(join(ws.dir, 'out'), { recursive: true });
    const r = await p2tui(
      'rollout',
      'run',
      'rollouts/ci.yaml',
      '--junit',
      file,
      '--fail-under',
      'sunny=0.5',
      '--fail-under',
      'sunny=0',
    );
    expect(r.code, r.stderr).toBe(1);
    expect(invalidity(file)).toBe('');
    // Written whole: no temporary file is left beside it.
    expect(readdirSync(join(ws.dir, 'out'))).toEqual(['junit.xml']);
    const cases = casesOf(file);
    const cells = cases.filter((c) => !c.name.startsWith('gate '));
    expect(cells.map((c) => `${c.suite} ${c.classname} ${c.name}`)).toEqual([
      'rollout.weather rollout.weather.plain s1 seed 1',
      'rollout.weather rollout.weather.plain s1 seed 2',
      'rollout.weather rollout.weather.gloomy s1 seed 1',
      'rollout.weather rollout.weather.gloomy s1 seed 2',
      'rollout.weather rollout.weather.broken s1 seed 1',
      'rollout.weather rollout.weather.broken s1 seed 2',
    ]);
    expect(cells.filter((c) => c.failure !== null).map((c) => c.classname)).toEqual([
      'rollout.weather.broken',
      'rollout.weather.broken',
    ]);
    const broken = cells.find((c) => c.failure !== null)!.failure!;
    expect(broken.type).toBe('cell failed');
    expect(broken.message).toBe('the session ended failed: forecaster failed; resumable');
    expect(broken.text).toMatch(/^the session ended failed: forecaster failed; resumable \(session s_\w+\)$/);
    const gates = cases.filter((c) => c.name.startsWith('gate '));
    expect(gates.map((c) => `${c.classname} ${c.name} ${c.failure === null ? 'pass' : 'FAIL'}`)).toEqual([
      'rollout.weather.plain gate plain sunny >= 0.5 pass',
      'rollout.weather.plain gate plain sunny >= 0 pass',
      'rollout.weather.gloomy gate gloomy sunny >= 0.5 FAIL',
      'rollout.weather.gloomy gate gloomy sunny >= 0 pass',
      'rollout.weather.broken gate broken sunny >= 0.5 FAIL',
      'rollout.weather.broken gate broken sunny >= 0 FAIL',
    ]);
    expect(gates[2]!.failure).toMatchObject({
      type: 'gate',
      message: 'weather/gloomy: mean 0 (95% CI 0 to 0, n 2), under sunny >= 0.5',
    });
    expect(gates[4]!.failure!.message).toBe('weather/broken: no sunny score (2 of 2 cells failed), under sunny >= 0.5');
  }, 60_000);

  it('refuses a path it cannot write before any cell runs (exit 6, E_FILE_*), and --json with --jsonl (exit 2)', async () => {
    const before = server.requests.length;
    const missing = await p2tui('rollout', 'run', 'rollouts/ci.yaml', '--junit', join(ws.dir, 'nowhere', 'j.xml'));
    expect(missing.code).toBe(6);
    expect(missing.stderr).toContain('E_FILE_NOT_FOUND');
    const folder = await p2tui('rollout', 'run', 'rollouts/ci.yaml', '--junit', ws.dir);
    expect(folder.code).toBe(6);
    expect(folder.stderr).toContain('E_FILE_TYPE');
    const both = await p2tui('rollout', 'run', 'rollouts/ci.yaml', '--json', '--jsonl');
    expect(both.code).toBe(2);
    // With --json the error is the JSON printed.
    expect(JSON.parse(both.stdout)).toMatchObject({
      error: { code: 'E_USAGE', message: '--json and --jsonl cannot go together' },
    });
    // Nothing ran: no model was asked, no rollout recorded.
    expect(server.requests.length).toBe(before);
    const list = await p2tui('rollout', 'list', '--json');
    expect((JSON.parse(list.stdout) as unknown[]).length).toBe(
      // the report test's rollout only (this file's tests run in order)
      1,
    );
  }, 60_000);

  it('a read-only folder is refused before any cell runs (E_FILE_ACCESS), for a user other than root', async () => {
    const locked = join(ws.dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o555);
    // Root may write any folder; run as nobody (65534) when this runs as root, else as this user.
    const uid = process.getuid?.() === 0 ? 65534 : undefined;
    chmodSync(ws.dir, 0o777);
    const r = await runCli(
      [
        'rollout',
        'run',
        'rollouts/ci.yaml',
        '--junit',
        join(locked, 'j.xml'),
        '--db',
        join(tmpdir(), `p2tui-ro-${process.pid}.db`),
      ],
      {
        cwd: ws.dir,
        env,
        ...(uid === undefined ? {} : { uid }),
      },
    );
    expect(r.stderr).toContain('E_FILE_ACCESS');
    expect(r.stderr).toContain(`cannot write ${join(locked, 'j.xml')}: permission denied (EACCES)`);
    expect(r.code).toBe(6);
    expect(existsSync(join(locked, 'j.xml'))).toBe(false);
  }, 30_000);
});

describe('rollout start and rollout resume --junit', () => {
  it("start (run's alias) and resume write the same report; resume's covers every cell of the rollout", async (t) => {
    if (!haveXmllint) return unavailable(t.skip, 'xmllint (Debian: libxml2-utils) is not installed');
    const started = join(ws.dir, 'start.xml');
    const s = await p2tui('rollout', 'start', 'rollouts/ci.yaml', '--junit', started, '--json');
    expect(s.code, s.stderr).toBe(0);
    expect(invalidity(started)).toBe('');
    const id = (JSON.parse(s.stdout) as { rollout: string }).rollout;
    expect(casesOf(started).filter((c) => c.failure !== null)).toHaveLength(2);
    // Resume runs the two failed cells again (the endpoint still refuses): the report has all six, two failed.
    const resumed = join(ws.dir, 'resume.xml');
    const r = await p2tui('rollout', 'resume', id, '--junit', resumed, '--fail-under', 'sunny=0');
    expect(r.code, r.stderr).toBe(1);
    expect(invalidity(resumed)).toBe('');
    const cases = casesOf(resumed);
    expect(cases.filter((c) => !c.name.startsWith('gate '))).toHaveLength(6);
    expect(cases.filter((c) => c.failure !== null).map((c) => c.name)).toEqual([
      's1 seed 1',
      's1 seed 2',
      'gate broken sunny >= 0',
    ]);
  }, 60_000);
});

describe('eval run --junit', () => {
  it('a case per target × evaluator and per gate; the report validates and is written though the gate fails (exit 1)', async (t) => {
    if (!haveXmllint) return unavailable(t.skip, 'xmllint (Debian: libxml2-utils) is not installed');
    const run = await p2tui('run', 'forecaster', 'hello', '--json');
    expect(run.code, run.stderr).toBe(0);
    const session = (JSON.parse(run.stdout) as { session: string }).session;
    const file = join(ws.dir, 'eval.xml');
    const r = await p2tui('eval', 'run', session, '--evaluator', 'snowy', '--fail-under', 'snowy=0.5', '--junit', file);
    expect(r.code, r.stderr).toBe(1);
    expect(invalidity(file)).toBe('');
    const cases = casesOf(file);
    expect(
      cases.map(
        (c) => `${c.suite} ${c.classname} ${c.name.replace(/ b_\w+$/, ' b_…')} ${c.failure === null ? 'pass' : 'FAIL'}`,
      ),
    ).toEqual([`eval.${session} eval.snowy branch b_… pass`, `eval.${session} eval.snowy gate snowy >= 0.5 FAIL`]);
    expect(cases[1]!.failure).toMatchObject({ type: 'gate', message: 'mean 0 (one value, n 1), under snowy >= 0.5' });
    const bad = await p2tui('eval', 'run', session, '--junit', join(ws.dir, 'nowhere', 'e.xml'));
    expect(bad.code).toBe(6);
    expect(bad.stderr).toContain('E_FILE_NOT_FOUND');
  }, 60_000);
});

describe('junit XML', () => {
  it('keeps hostile text in names, messages and bodies valid against the schema', (t) => {
    if (!haveXmllint) return unavailable(t.skip, 'xmllint (Debian: libxml2-utils) is not installed');
    const file = join(ws.dir, 'hostile.xml');
    writeFileSync(
      file,
      junitXml(
        [
          {
            name: `suite ${HOSTILE}`,
            pkg: HOSTILE,
            startedAt: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
            properties: { [`k${HOSTILE}`]: HOSTILE },
            cases: [
              {
                name: HOSTILE,
                classname: `rollout.${HOSTILE}`,
                seconds: 1.5,
                failure: { message: HOSTILE, type: HOSTILE, text: `${HOSTILE}\n${HOSTILE}` },
              },
              { name: 'skipped', classname: 'x', seconds: Number.NaN, skipped: HOSTILE },
            ],
          },
        ],
        '',
      ),
    );
    expect(invalidity(file)).toBe('');
    const [failed, skipped] = casesOf(file);
    // Markup and quotes read back as they were; characters XML cannot carry as U+FFFD.
    const expected = 'bad ]]></failure></testcase><x a="1"> & \'q\' \uFFFD\uFFFD[31m\uFFFD \uFFFD \uFFFD tail';
    expect(failed!.failure!.message).toBe(expected);
    expect(failed!.name).toBe(expected);
    expect(failed!.failure!.type).toBe(expected);
    expect(failed!.failure!.text).toBe(`${expected}\n${expected}`);
    expect(skipped!.skipped).toBe(true);
    expect(readFileSync(file, 'utf8')).toContain('timestamp="2026-01-02T03:04:05"');
  });
});

describe('rollout run --jsonl', () => {
  it('prints a cell line as each cell finishes, while the rollout still runs, then a summary line', async () => {
    const child = spawn(process.execPath, [MAIN, 'rollout', 'run', 'rollouts/slow.yaml', '--jsonl'], {
      cwd: ws.dir,
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines: { at: number; running: boolean; value: Record<string, unknown> }[] = [];
    let buffered = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        lines.push({
          at: Date.now(),
          running: child.exitCode === null,
          value: JSON.parse(line) as Record<string, unknown>,
        });
      }
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const ended = Date.now();
    expect(code, stderr).toBe(0);
    expect(buffered).toBe('');
    expect(lines.map((l) => l.value['type'])).toEqual(['cell', 'cell', 'cell', 'cell', 'summary']);
    // The first cell's line came while three more cells (at least 300 ms each, one at a time) were still to run.
    expect(lines[0]!.running).toBe(true);
    expect(ended - lines[0]!.at).toBeGreaterThan(600);
    expect(lines[0]!.value).toMatchObject({ type: 'cell', team: 'w', variant: 'a', status: 'done', seed: 1 });
    expect(Object.keys(lines[0]!.value)).toEqual([
      'type',
      'id',
      'team',
      'variant',
      'scenario',
      'repeat',
      'seed',
      'status',
      'session',
      'error',
      'metrics',
      'effects',
    ]);
    const summary = lines[4]!.value;
    expect(summary).toMatchObject({ type: 'summary', status: 'finished', stopped: null, gates: [] });
    expect(summary['cells']).toBeUndefined();
    expect((summary['variants'] as { variant: string }[]).map((v) => v.variant)).toEqual(['a', 'b']);
    // The progress line and notices went to stderr: stdout is only JSON lines.
    expect(stderr).toContain('4/4 cells');
  }, 30_000);
});
