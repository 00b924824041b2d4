import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childEnv } from '../helpers/child-env.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * Broken persona files disable only their own agents: every other command that loads the workspace keeps working
 * (`run` of another agent, `session resume`, `ledger balance`), `agents list` shows each broken file with all its
 * problems, and no binary garbage or terminal control sequence from a file reaches the output. Real processes.
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const MAIN = join(ROOT, 'src/cli/main.ts');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let ws: TempWorkspace;
let db = '';

function p2tui(args: string[]): Result {
  const r = spawnSync(process.execPath, [MAIN, ...args, '--workspace', ws.dir, '--db', db], {
    cwd: ws.dir,
    input: '',
    encoding: 'utf8',
    env: childEnv(),
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The broken files, by what is wrong with them. */
const BROKEN: Record<string, string | Buffer> = {
  'personas/binary.yaml': Buffer.from(Array.from({ length: 4000 }, (_, i) => (i * 7919 + 13) % 256)),
  'personas/tooly.yaml': 'id: tooly\ndescription: Uses a tool nobody made.\ntools: [no_such_tool]\n',
  'personas/syntax.yaml': 'id: syntax\ndescription: [unclosed\n',
  // A second file for one id: Markdown beside the YAML one (the file's name is the id, so only the extension differs).
  'personas/twin.md': '---\nid: twin\ndescription: A second twin.\n---\nYou are the second twin.\n',
  'personas/no-front-matter.md': 'Just a prompt, no front matter.\n',
  'personas/escapes.yaml':
    'id: "\u001b]52;c;aGVsbG8=\u0007\u001b[2K\rsneaky"\ndescription: Tries the terminal.\n"\u001b]0;title\u0007": 1\n',
  'personas/bomb.yaml': [
    'id: bomb',
    'description: d',
    'vars: &a [x, x, x, x, x, x, x, x, x]',
    'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]',
    'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]',
    'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]',
    '',
  ].join('\n'),
};

beforeAll(() => {
  ws = tempWorkspace();
  db = join(ws.dir, 'p2tui.db');
  ws.persona({
    id: 'solo',
    description: 'Answers alone.',
    balance: 50,
    tools: ['check_balance'],
    script: [{ when: 'balance', steps: [{ call: 'check_balance' }, { reply: 'Balance: {{result}}.' }] }],
  });
  ws.persona({ id: 'twin', description: 'The first twin.' });
  expect(p2tui(['ledger', 'init']).code).toBe(0);
  // A session that ran out of steps, to resume once the workspace has broken files.
  const failed = p2tui(['run', 'solo', 'my balance', '--max-steps', '1', '--temperature', '0']);
  expect(failed.stdout).toContain('resumable');
  for (const [file, content] of Object.entries(BROKEN)) ws.write(file, content as string);
  // An agent that delegates to a broken one (tooly).
  ws.persona({ id: 'lead', description: 'Leads.', agents: ['solo', 'tooly'] });
  mkdirSync(join(ws.dir, 'personas', 'folder.yaml'));
  writeFileSync(join(ws.dir, 'personas', 'folder.yaml', 'x'), '');
}, 60_000);
afterAll(() => ws.cleanup());

/** No escape sequences, carriage returns or undecodable bytes from the files in what p2tui printed. */
function expectClean(r: Result): void {
  for (const text of [r.stdout, r.stderr]) {
    expect(text).not.toContain('\u001b');
    expect(text).not.toContain('\r');
    expect(text).not.toContain('\u0007');
    expect(text).not.toContain('\ufffd');
  }
}

describe('broken persona files', () => {
  it('agents list shows every broken file with its error, and the agents that work', () => {
    const r = p2tui(['agents', 'list']);
    expect(r.code).toBe(0);
    expectClean(r);
    expect(r.stdout).toMatch(/^solo +scripted\/default/m);
    expect(r.stdout).toMatch(/^lead +scripted\/default/m);
    expect(r.stdout).toContain('9 persona file(s) broken, their agents unavailable (the others work):');
    expect(r.stdout).toContain('personas/binary.yaml:1:1: not a text file (4000 bytes of binary data)');
    expect(r.stdout).toContain("personas/tooly.yaml:3:9: tools[0]: unknown tool 'no_such_tool'");
    expect(r.stdout).toMatch(/personas\/syntax\.yaml:2:\d+: YAML syntax/);
    // Two files for one id: neither is guessed at.
    expect(r.stdout).toContain("personas/twin.yaml:2:5: id: persona id 'twin' is already defined in personas/twin.md");
    expect(r.stdout).toContain("personas/twin.md: id: persona id 'twin' is also defined in personas/twin.yaml");
    expect(r.stdout).toContain('personas/no-front-matter.md:1:1: a Markdown persona starts with YAML front matter');
    expect(r.stdout).toMatch(/personas\/escapes\.yaml:1:\d+: id: /);
    expect(r.stdout).toContain("unknown field '\\u001b]0;title\\u0007'");
    expect(r.stdout).toContain('personas/bomb.yaml:1:1: YAML aliases expand to too many nodes');
    expect(r.stdout).toContain('personas/folder.yaml: cannot be read: EISDIR');
    const json = JSON.parse(p2tui(['agents', 'list', '--json']).stdout) as {
      source: string;
      broken?: true;
      errors?: string[];
    }[];
    const broken = json.filter((a) => a.broken === true);
    expect(broken.map((b) => b.source).sort()).toEqual(
      [...Object.keys(BROKEN), 'personas/folder.yaml', 'personas/twin.yaml'].sort(),
    );
    for (const b of broken) expect(b.errors?.length).toBeGreaterThan(0);
  }, 30_000);

  it('run of another agent works; a lead that names a broken agent still runs', () => {
    const run = p2tui(['run', 'solo', 'hello', '--temperature', '0']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('✓ finished');
    expect(run.stderr).toContain('warning: 9 broken persona files not loaded');
    expectClean(run);
    expect(p2tui(['run', 'lead', 'hello', '--temperature', '0']).stdout).toContain('✓ finished');
  }, 30_000);

  it('running a broken agent names its file and error (E_PERSONA_INVALID, exit 3)', () => {
    const r = p2tui(['run', 'tooly', 'hello']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      "error E_PERSONA_INVALID: personas/tooly.yaml:3:9: tools[0]: unknown tool 'no_such_tool'",
    );
    expect(r.stderr).toContain("hint: Agent 'tooly' is unavailable until personas/tooly.yaml is fixed");
    expectClean(r);
    ws.write('rollouts/uses-tooly.yaml', 'teams:\n  t:\n    base: { agent_id: tooly }\n    initial_message: hi\n');
    const spec = p2tui(['rollout', 'run', 'rollouts/uses-tooly.yaml']);
    expect(spec.code).toBe(3);
    expect(spec.stderr).toContain("agent 'tooly' is unavailable: personas/tooly.yaml is broken");
  }, 30_000);

  it('session resume and ledger balance work', () => {
    const resumed = p2tui(['session', 'resume', 'last', '--max-steps', '10']);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('✓ finished');
    const balance = p2tui(['ledger', 'balance', 'solo', '--json']);
    expect(balance.code).toBe(0);
    expect(JSON.parse(balance.stdout)).toMatchObject({ balance: '50' });
  }, 30_000);
});
