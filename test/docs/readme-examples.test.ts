import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseRubricFile } from '../../src/judge/rubric.ts';
import { parseRolloutSpec } from '../../src/rollout/spec.ts';
import { readSession } from '../../src/engine/session-view.ts';
import { runCli } from '../helpers/cli.ts';
import { tempWorkspace, testEngine } from '../helpers/workspace.ts';

/**
 * The README's examples of what users had to guess (a tool's `dedup` and `ctx.workspace`, a rubric's own prompt, a
 * variant's `personas`) are taken from the README itself and run, so the README cannot drift from what p2tui does.
 */
const README = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');

/** The fenced block of the README that contains `marker`, without its fence (and without a list's indentation). */
function block(marker: string): string {
  const at = README.indexOf(marker);
  expect(at, `the README has ${marker}`).toBeGreaterThan(-1);
  const start = README.lastIndexOf('```', at);
  const body = README.slice(README.indexOf('\n', start) + 1, README.indexOf('```', at));
  const indent = /^ */.exec(body)![0].length;
  return body
    .split('\n')
    .map((line) => line.slice(Math.min(indent, /^ */.exec(line)![0].length)))
    .join('\n');
}

describe("the README's examples", () => {
  it('save_report: writes into ctx.workspace, and a repeat of the same call is not run under dedup: strict', async () => {
    const t = await testEngine(
      [
        {
          id: 'writer',
          description: 'Writes reports.',
          tools: ['save_report'],
          script: [
            {
              when: '.',
              steps: [
                { call: 'save_report', args: { name: 'q3', text: 'Sales rose.' } },
                { call: 'save_report', args: { name: 'q3', text: 'Sales rose.' } },
                { reply: 'saved' },
              ],
            },
          ],
        },
      ],
      { files: { 'tools/save_report.ts': block('export const saveReport') } },
    );
    try {
      const run = t.engine.start({ agent: 'writer', message: 'save it', source: 'api', options: t.options() });
      expect(await run.idle()).toBe('finished');
      const file = join(t.ws.dir, 'reports', 'q3.md');
      expect(existsSync(file)).toBe(true);
      expect(readFileSync(file, 'utf8')).toMatch(/^<!-- .+ -->\nSales rose\.$/);
      const results = readSession(t.engine.store, run.id).conversations[0]!.entries.flatMap((e) =>
        e.kind === 'tool_result' ? [e.payload as { status: string; error?: string }] : [],
      );
      expect(results.map((r) => r.status)).toEqual(['ok', 'skipped']);
      expect(results[1]!.error).toMatch(
        /^not run: it repeats call \S+ with the same arguments, and the dedup policy is strict$/,
      );
    } finally {
      t.close();
    }
  });

  it("a rubric's own prompt is the judge's prompt, with its criteria", () => {
    const rubric = parseRubricFile(block('# rubrics/report.yaml'), 'rubrics/report.yaml');
    expect(rubric.criteria.map((c) => [c.id, c.weight])).toEqual([
      ['sourced', 0.6],
      ['concise', 0.4],
    ]);
    expect(rubric.prompt).toMatch(/^You review research reports written by \{\{agent\}\}/);
    expect(rubric.prompt).toContain('{{criteria}}');
  });

  it("a variant's personas change the other agents of the team", async () => {
    const t = await testEngine(
      [
        { id: 'lead', description: 'Leads.', agents: ['writer', 'searcher'] },
        { id: 'writer', description: 'Writes.' },
        { id: 'searcher', description: 'Searches.' },
      ],
      {
        files: {
          'tools/web_search.ts':
            "import { defineTool, z } from 'p2tui';\nexport const s = defineTool({ name: 'web_search', description: 's', " +
            "input: z.object({}), effect: 'pure', run: () => 'x' });\n",
        },
      },
    );
    try {
      const variants = block('id: careful-writer'); // `variants:` and its list, as a team's key
      const yaml = `teams:\n  desk:\n    initial_message: research it\n    base: { agent_id: lead }\n${variants.replace(/^/gm, '    ')}`;
      const spec = parseRolloutSpec(yaml, 'rollouts/desk.yaml', t.app.workspace);
      const [variant] = spec.teams[0]!.variants;
      // The variant's own `temperature` is the team agent's (agent_id: lead); `personas` adds the others'.
      expect(variant!.personas).toEqual({
        lead: { temperature: 0.2 },
        writer: { model: 'scripted/default', temperature: 0, system: 'Cite a source for every claim.' },
        searcher: { tools: ['web_search'] },
      });
    } finally {
      t.close();
    }
  });
  it('send_invoice: a dry run sends nothing and is no prior call; a live fork after a real send sees ctx.prior', async () => {
    const ws = tempWorkspace({
      'tools/send_invoice.ts': block('export const sendInvoice'),
      'p2tui.yaml': 'effects: dry-run\n',
    });
    ws.persona({
      id: 'clerk',
      description: 'Sends invoices.',
      tools: ['send_invoice'],
      script: [
        { when: '.', steps: [{ call: 'send_invoice', args: { client: 'acme', amount: '5' } }, { reply: 'done' }] },
      ],
    });
    const p2tui = async (...args: string[]): Promise<string> => {
      const r = await runCli(args, { cwd: ws.dir });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r.stdout;
    };
    const outbox = (): string =>
      existsSync(join(ws.dir, 'outbox.txt')) ? readFileSync(join(ws.dir, 'outbox.txt'), 'utf8') : '';
    try {
      // p2tui.yaml says dry-run: the first run only simulates.
      expect(await p2tui('run', 'clerk', 'invoice acme')).toContain('would send 5 to acme (dry run)');
      expect(outbox()).toBe('');
      // Live from the start: the dry run sent nothing, so there is no prior call and the invoice goes out.
      await p2tui('session', 'rewind', 'last', '0', '--effects', 'live');
      await p2tui('session', 'resume', 'last');
      expect(outbox()).toBe('acme 5\n');
      // Another dry run, then live again: the prior call is the live branch's real one, passed over the dry run's.
      await p2tui('session', 'rewind', 'last', '0', '--effects', 'dry-run');
      expect(await p2tui('session', 'resume', 'last')).toContain('would send 5 to acme (dry run)');
      await p2tui('session', 'rewind', 'last', '0', '--effects', 'live');
      expect(await p2tui('session', 'resume', 'last')).toContain('sent already on an earlier branch');
      expect(outbox()).toBe('acme 5\n');
    } finally {
      ws.cleanup();
    }
  }, 30_000);
});
