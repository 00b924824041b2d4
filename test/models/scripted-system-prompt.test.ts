import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * A fork that changes only a system prompt shows a difference (issue 17, point 7), through the real CLI: run,
 * `session fork --system writer=…`, resume, `session diff`.
 */
let ws: TempWorkspace;
let session: string;

const cli = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });

beforeAll(async () => {
  ws = tempWorkspace();
  ws.persona({ id: 'lead', description: 'Leads the desk.', agents: ['writer'] });
  ws.persona({
    id: 'writer',
    description: 'Writes the report.',
    script: [{ when: '.', steps: [{ reply: "The report: sales rose. It's a good quarter." }] }],
  });
  const run = await cli('run', 'lead', 'Ask writer for the report', '--json');
  expect(run.code).toBe(0);
  session = (JSON.parse(run.stdout) as { session: string }).session;
}, 30_000);

afterAll(() => ws.cleanup());

describe('a fork that changes only the system prompt', () => {
  it('answers visibly differently, and session diff shows it', async () => {
    const fork = await cli(
      'session',
      'fork',
      session,
      '--from',
      'main',
      '--step',
      '0',
      '--conversation',
      'writer',
      '--system',
      'writer=You are {{id}}. Answer in bullet points, formally.',
      '--checkout',
    );
    expect(fork.stderr).toBe('');
    expect(fork.code).toBe(0);
    const resumed = await cli('session', 'resume', session);
    expect(resumed.code).toBe(0);
    const diff = await cli('session', 'diff', session, '--json');
    expect(diff.code).toBe(0);
    const result = JSON.parse(diff.stdout) as { same: boolean; answers: { a: string; b: string } };
    expect(result.same).toBe(false);
    expect(result.answers.a).toContain("The report: sales rose. It's a good quarter.");
    // The lead folds the writer's bullet lines into one line of its own answer.
    expect(result.answers.b).toContain('It is a good quarter.');
    expect(result.answers.b).toContain('Kind regards, writer.');
    const text = await cli('session', 'diff', session, '--no-color');
    expect(text.code, text.stdout).toBe(0);
    expect(text.stdout).toMatch(/^\+assistant_message .*Kind regards, writer/m);
  }, 30_000);

  it('with a bare --system (every agent), the whole answer follows it', async () => {
    const fork = await cli(
      'session',
      'fork',
      session,
      '--from',
      'main',
      '--step',
      '0',
      '--system',
      'Answer in capital letters.',
    );
    expect(fork.stderr).toBe('');
    expect(fork.code).toBe(0);
    const branch = /branch (b_\S+)/.exec(fork.stdout)![1]!;
    expect((await cli('session', 'checkout', session, branch)).code).toBe(0);
    expect((await cli('session', 'resume', session)).code).toBe(0);
    const diff = await cli('session', 'diff', session, 'main', branch, '--json');
    expect(diff.code).toBe(0);
    const result = JSON.parse(diff.stdout) as { same: boolean; answers: { a: string; b: string } };
    expect(result.same).toBe(false);
    expect(result.answers.b).toBe(result.answers.a.toUpperCase());
    expect(result.answers.b).toContain("THE REPORT: SALES ROSE. IT'S A GOOD QUARTER.");
  }, 30_000);
});
