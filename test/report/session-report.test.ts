import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../../src/core/money.ts';
import { closeBrowser, haveChromium, openPage, type OpenedPage } from '../helpers/browser.ts';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * `p2tui report session` on a session made by real CLI runs of scripted personas: a delegation, a payment, a judge
 * score, a fork run on, and a delegate whose reply is hostile HTML. The page is opened in headless Chromium and read
 * as a person reads it; its numbers are checked against what `session show --json` and `session diff --json` say.
 */
const HOSTILE = `</script><img src=x onerror="window.__p2tuiScriptRan=true"><script>window.__p2tuiScriptRan=true</script>`;

let ws: TempWorkspace;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws.dir });
async function json<T>(...args: string[]): Promise<T> {
  const r = await p2tui(...args, '--json');
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return JSON.parse(r.stdout) as T;
}

interface Usage {
  calls: number;
  tokensIn: number;
  tokensOut: number;
  costUsd: number;
}
interface Shown {
  session: string;
  conversations: { id: string; agent: string; parent: string | null }[];
  usage: { byAgent: Record<string, Usage> };
}

let session: string;
let fork: { branch: string; parent: string; forkSeq: number };
let diff: { divergesAt: string };
let shown: Shown;
let report: string;

beforeAll(async () => {
  ws = tempWorkspace({
    'p2tui.yaml':
      'judge:\n  evaluators:\n    - { id: checks, kind: assert, on: demand, assert: [{ contains: paid }] }\n',
  });
  ws.persona({
    id: 'boss',
    description: 'Delegates the count and pays for it.',
    tools: ['transfer_funds'],
    agents: ['worker'],
    balance: 100,
    // Every payment asks first: approved by the policy on main, by a person on the fork.
    policies: { approve_tools: ['transfer_funds'] },
    script: [
      {
        when: '.',
        steps: [
          { delegate: 'worker', message: 'Count the words in the brief.' },
          { call: 'transfer_funds', args: { to: 'worker', amount: '5', reason: 'for the count' } },
          { reply: 'worker said {{result}}; paid' },
        ],
      },
    ],
  });
  ws.persona({
    id: 'worker',
    description: 'Counts words.',
    balance: 0,
    script: [{ when: '.', steps: [{ reply: HOSTILE }] }],
  });
  expect((await p2tui('ledger', 'init')).code).toBe(0);
  session = (await json<{ session: string }>('run', 'boss', 'Count the words, please.', '--approval', 'approve'))
    .session;
  expect((await p2tui('eval', 'run', session)).code).toBe(0);
  // A fork after the delegation came back, run on: the payment is made again on the new branch.
  fork = await json('session', 'fork', session, '--step', '3', '--label', 'again', '--checkout');
  const resumed = await p2tui('session', 'resume', session, '--approval', 'ask');
  expect(resumed.code, resumed.stderr).toBe(4);
  const answered = await p2tui('session', 'respond', session, 'yes');
  expect(answered.code, answered.stderr).toBe(0);
  report = join(ws.dir, 'session.html');
  // Readers, at once.
  let made: { report: string };
  [diff, shown, made] = await Promise.all([
    json<typeof diff>('session', 'diff', session),
    json<Shown>('session', 'show', session),
    json<{ report: string }>('report', 'session', session, '--out', report),
  ]);
  expect(made.report).toBe(report);
}, 60_000);

afterAll(async () => {
  await closeBrowser();
  ws.cleanup();
});

describe('report session', () => {
  let page: OpenedPage;
  const conversation = (agent: string): string => shown.conversations.find((c) => c.agent === agent)!.id;

  it.skipIf(!haveChromium)('runs nothing, loads nothing, and shows the hostile reply as text (Chromium)', async () => {
    const boss = conversation('boss');
    const worker = conversation('worker');
    page = await openPage(report, 'session-report', [
      'img',
      'script',
      '.tree > ul > li.conversation',
      '.tree li.conversation li.conversation',
      `.tree a[href="#conv-${boss}"]`,
      `.tree a[href="#conv-${worker}"]`,
      `section.transcript#conv-${boss}`,
      `section.transcript#conv-${worker}`,
    ]);
    expect(page.console).toEqual([]);
    expect(page.errors).toEqual([]);
    expect(page.requests).toEqual([`file://${report}`]);
    expect(page.scriptRan).toBe(false);
    expect(page.title).toBe(`Session ${session}`);
    expect(page.text).toContain(HOSTILE);
    // The conversation tree: one root, the worker nested under the boss, each linked to its transcript.
    expect(page.counts).toEqual({
      img: 0,
      script: 0,
      '.tree > ul > li.conversation': 1,
      '.tree li.conversation li.conversation': 1,
      [`.tree a[href="#conv-${boss}"]`]: 1,
      [`.tree a[href="#conv-${worker}"]`]: 1,
      [`section.transcript#conv-${boss}`]: 1,
      [`section.transcript#conv-${worker}`]: 1,
    });
    expect(page.text).toContain('boss delegated: Count the words in the brief.');
    expect(page.text).toContain(`answered (ok): ${HOSTILE}`);
  });

  it.skipIf(!haveChromium)(
    'shows the header, the branch with its fork point and divergence, the score, the payment and its approval',
    () => {
      expect(page.text).toContain(`Session\t${session}`);
      expect(page.text).toContain('Started with\tboss: Count the words, please.');
      expect(page.text).toContain('Branch checked out\tagain');
      expect(page.text).toContain('Models\tsimulated (scripted models)');
      // The fork, where it was made, and where it first differs from its parent, as session diff says.
      expect(page.text).toMatch(
        new RegExp(`\\* ${fork.branch}\\tagain\\tmain \\(${fork.parent}\\) at seq ${fork.forkSeq}: boss #3`),
      );
      expect(diff.divergesAt).toBe('boss at #6');
      expect(page.text).toContain(`in ${diff.divergesAt}`);
      expect(page.text).toMatch(/again \(b_\w+\): 5 entries of its own after the fork point/);
      // The judge's score on each branch, with its comment.
      expect(page.text).toMatch(/branch on main \(b_\w+\)\tchecks\t1\.00\tassert\t\nall 1 assertions passed/);
      // One payment per branch, each from its own tool call.
      const payments = page.text.match(/^payment\tboss\tworker\t5\tfor the count\tok\t.*$/gm) ?? [];
      expect(payments).toHaveLength(2);
      expect(page.text).toContain(
        'approval asked: boss calls transfer_funds {"amount":"5","reason":"for the count","to":"worker"} ' +
          '(policies.approve_tools in personas/boss.yaml) — approved by user (yes)',
      );
      expect(payments[1]).toMatch(new RegExp(`\\tagain \\(${fork.branch}\\)\\ttransfer_funds e_\\w+$`));
    },
  );

  it.skipIf(!haveChromium)('shows usage per agent as session show counts it, and draws its plot', () => {
    for (const [agent, u] of Object.entries(shown.usage.byAgent))
      expect(page.text).toContain(
        [agent, u.calls, u.tokensIn, u.tokensOut, u.tokensIn + u.tokensOut, formatUsd(u.costUsd)].join('\t'),
      );
    expect(Object.keys(shown.usage.byAgent).sort()).toEqual(['boss', 'worker']);
    expect(page.plots).toEqual(['Tokens per agent (input and output)']);
  });
});

describe('report session of a long session', () => {
  it.skipIf(!haveChromium)(
    'shows the beginning and the end of a long conversation and says what it left out',
    async () => {
      const calls = Array.from({ length: 170 }, () => ({ call: 'check_balance', args: {} }));
      ws.persona({
        id: 'busy',
        description: 'Checks its balance again and again.',
        tools: ['check_balance'],
        policies: { max_steps: 1000 },
        script: [{ when: '.', steps: [...calls, { reply: 'all checked' }] }],
      });
      const run = await json<{ session: string }>('run', 'busy', 'check', '--max-steps', '1000');
      const file = join(ws.dir, 'busy.html');
      const started = Date.now();
      expect((await p2tui('report', 'session', run.session, '--out', file)).code).toBe(0);
      expect(Date.now() - started).toBeLessThan(10_000);
      const page = await openPage(file, 'session-report-busy', ['section.transcript .entry']);
      expect(page.console).toEqual([]);
      // 1 + 170 × 3 + 2 entries: the first 250 and the last 250 shown.
      expect(page.counts['section.transcript .entry']).toBe(500);
      expect(page.text).toContain(
        `… 13 more entries (#250 to #262): p2tui session stack ${run.session} --conversation`,
      );
      expect(page.text).toMatch(/#512 · seq \d+ busy finished after 171 steps/);
    },
    20_000,
  );
});

describe('report session of a session that is not done', () => {
  it.skipIf(!haveChromium)(
    'says it is waiting, with its question, and caps a long text with what it left out',
    async () => {
      const question = `Which city? ${'y'.repeat(50_000)}`;
      ws.persona({ id: 'asker', description: 'Asks at length.', script: [{ when: '.', steps: [{ ask: question }] }] });
      const asked = await p2tui('run', 'asker', 'hi', '--json');
      // The run leaves the session waiting for an answer (exit 4), which the report says.
      expect(asked.code, asked.stderr).toBe(4);
      const file = join(ws.dir, 'waiting.html');
      const made = await p2tui(
        'report',
        'session',
        (JSON.parse(asked.stdout) as { session: string }).session,
        '--out',
        file,
      );
      expect(made.code, made.stderr).toBe(0);
      expect(statSync(file).size).toBeLessThan(40_000);
      const page = await openPage(file, 'session-report-waiting');
      expect(page.console).toEqual([]);
      expect(page.text).toMatch(
        /This session was waiting when the report was made \(.*\): it shows what was stored by then\. Waiting for 1 answer:/,
      );
      // In the notice a line's worth, in the transcript a text's worth (see LIMITS), each saying what it left out.
      expect(page.text).toMatch(/asker asks \(\w+\): Which city\? y{288}… 49712 more characters/);
      expect(page.text).toContain(`asks:\nWhich city? ${'y'.repeat(3_988)}… 46012 more characters`);
    },
    20_000,
  );
});
