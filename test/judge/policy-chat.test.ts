import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { childEnv } from '../helpers/child-env.ts';
import { MAIN, runCli } from '../helpers/cli.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * The demo's `retry-low-quality` policy against a person chatting in a real `p2tui chat` process: whether the
 * low score arrives before or after the person's next message, that message is answered.
 */

const ROOT = join(import.meta.dirname, '../..');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** A chat whose first answer scores 0 for quality (a judge taking 600 ms), and whose second scores 1. */
function chatWorkspace(): TempWorkspace {
  const ws = tempWorkspace({
    'p2tui.yaml': stringify({ judge: { evaluators: [{ id: 'quality', kind: 'custom', evaluator: 'sunny' }] } }),
    'policies/retry-low-quality.ts': readFileSync(join(ROOT, 'policies/retry-low-quality.ts'), 'utf8'),
    'evaluators/sunny.ts':
      "import { defineEvaluator } from 'p2tui';\n" +
      "export const sunny = defineEvaluator({ id: 'sunny', version: '1', async evaluate(m) {\n" +
      '  await new Promise((r) => setTimeout(r, 600));\n' +
      "  return { value: m.answer.includes('sunny') ? 1 : 0, reasoning: 'sunny?' };\n} });\n",
  });
  // scripted/slow: 300 ms a call, so a retry is still answering when the person writes.
  ws.persona({
    id: 'w',
    description: 'Weather.',
    model: 'scripted/slow',
    script: [
      { when: 'tomorrow', steps: [{ reply: 'Tomorrow it is sunny.' }] },
      { when: '.', steps: [{ reply: 'It is raining.' }] },
    ],
  });
  cleanups.push(() => ws.cleanup());
  return ws;
}

/** Runs `p2tui chat w`, typing each line once `after` (if given) matches what the chat printed so far. */
async function chat(
  ws: TempWorkspace,
  lines: readonly { text: string; after?: RegExp }[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, 'chat', 'w'], { cwd: ws.dir, env: childEnv() });
  // A chat left waiting for a line (the test failed first) is stopped, not left behind.
  cleanups.push(() => child.kill());
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
  for (const line of lines) {
    const started = Date.now();
    while (line.after !== undefined && !line.after.test(stdout)) {
      if (Date.now() - started > 15_000) throw new Error(`chat never printed ${line.after}:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    child.stdin.write(`${line.text}\n`);
  }
  child.stdin.end();
  return { code: await closed, stdout, stderr };
}

async function branches(ws: TempWorkspace): Promise<{ label: string; createdBy: string; checkedOut: boolean }[]> {
  const r = await runCli(['session', 'branches', 'last', '--json'], { cwd: ws.dir });
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { label: string; createdBy: string; checkedOut: boolean }[]).map((b) => ({
    label: b.label,
    createdBy: b.createdBy,
    checkedOut: b.checkedOut,
  }));
}

async function shown(ws: TempWorkspace): Promise<string> {
  const r = await runCli(['session', 'show', 'last'], { cwd: ws.dir });
  expect(r.code).toBe(0);
  return r.stdout;
}

describe('score policies and a person chatting', () => {
  it('a low score arriving after the person wrote again forks nothing: the message is answered on the same branch', async () => {
    const ws = chatWorkspace();
    // Both lines at once: the second message is in the log before the slow judge scores the first answer.
    const r = await chat(ws, [
      { text: 'weather?' },
      { text: 'and tomorrow?' },
      { text: '/exit', after: /policy retry-low-quality/ },
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('w ▸ It is raining.');
    expect(r.stdout).toContain('w ▸ Tomorrow it is sunny.');
    expect(r.stdout).toMatch(
      /policy retry-low-quality · quality 0\.00: not retried: the person wrote again \(seq \d+\) after the scored answer; it is answered on branch b_\w+/,
    );
    expect(await branches(ws)).toEqual([{ label: 'main', createdBy: 'chat', checkedOut: true }]);
    expect(await shown(ws)).toMatch(/^s_\w+ {2}finished {2}w {2}"weather\?"/);
  }, 30_000);

  it('a low score arriving first retries the answer, and the message the person then sends is answered on the retry branch', async () => {
    const ws = chatWorkspace();
    const r = await chat(ws, [
      { text: 'weather?' },
      // Sent as soon as the retry starts: the retry (300 ms) is still answering.
      { text: 'and tomorrow?', after: /retried on branch b_\w+ at temperature 0\.9/ },
      { text: '/exit', after: /Tomorrow it is sunny/ },
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('your message waits until the session has answered again (above)');
    expect(r.stdout).not.toContain('still working on the last message');
    const lines = r.stdout.split('\n');
    const retried = lines.findIndex((l) => /retried on branch/.test(l));
    // The retry's answer (worded by the warmer simulator), then the person's message's.
    const answers = lines.slice(retried).filter((l) => l.startsWith('w ▸'));
    expect(answers).toHaveLength(2);
    expect(answers[0]).toMatch(/^w ▸ .*It is raining/);
    expect(answers[1]).toMatch(/^w ▸ .*Tomorrow it is sunny/);
    expect(await branches(ws)).toEqual([
      { label: 'main', createdBy: 'chat', checkedOut: false },
      { label: 'retry of main', createdBy: 'policy:retry-low-quality', checkedOut: true },
    ]);
    expect(await shown(ws)).toMatch(/^s_\w+ {2}finished {2}w {2}"weather\?"/);
  }, 30_000);
});
