import { existsSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { html } from '../../src/report/html.ts';
import { renderPage } from '../../src/report/page.ts';
import { renderPlot } from '../../src/report/plot.ts';
import { closeBrowser, haveChromium, openPage } from '../helpers/browser.ts';
import { runCli } from '../helpers/cli.ts';
import { tempFolders } from '../helpers/folders.ts';
import { tempWorkspace } from '../helpers/workspace.ts';

/**
 * What every report page promises, whatever it shows: one file that asks for nothing over the network, runs no
 * script, and shows hostile text as text — checked in a real headless Chromium with the page's own policy in force.
 */
const HOSTILE = `</script><img src=x onerror="window.__p2tuiScriptRan=true"><script>window.__p2tuiScriptRan=true</script>`;
const folder = tempFolders('p2tui-report-page-');

afterAll(closeBrowser);

describe('a report page', () => {
  it.skipIf(!haveChromium)(
    'shows hostile text as text, runs nothing, loads nothing, and draws its plot (Chromium)',
    async () => {
      const plot = await renderPlot(
        {
          data: {
            values: [
              { variant: HOSTILE, score: 0.4 },
              { variant: 'b', score: 0.8 },
            ],
          },
          mark: 'point',
          encoding: { y: { field: 'variant', type: 'nominal' }, x: { field: 'score', type: 'quantitative' } },
        },
        `scores of ${HOSTILE}`,
      );
      const page = renderPage({
        kind: 'page',
        title: `Rollout ${HOSTILE}`,
        subtitle: 'test',
        body: html`<h2>Reply</h2><pre>${HOSTILE}</pre>${plot}<p>${'control\u001b[31m characters'}</p>`,
      });
      const file = join(folder(), 'hostile.html');
      writeFileSync(file, page);
      const opened = await openPage(file, 'page-hostile', ['img', 'script', 'figure.plot svg']);
      expect(opened.console).toEqual([]);
      expect(opened.errors).toEqual([]);
      expect(opened.requests).toEqual([`file://${file}`]);
      expect(opened.scriptRan).toBe(false);
      expect(opened.counts).toEqual({ img: 0, script: 0, 'figure.plot svg': 1 });
      expect(opened.title).toBe(`Rollout ${HOSTILE}`);
      expect(opened.text).toContain(HOSTILE);
      expect(opened.text).toContain('control\ufffd[31m characters');
      expect(opened.plots).toEqual([`scores of ${HOSTILE}`]);
      expect(opened.csp).toContain("script-src 'none'");
      expect(opened.csp).toContain("default-src 'none'");
    },
  );
});

describe('p2tui report', () => {
  it('writes <state folder>/reports/<id>.html by default, --out where asked, and says where', async () => {
    const ws = tempWorkspace();
    ws.persona({ id: 'helper', description: 'Helps.' });
    try {
      const run = await runCli(['run', 'helper', HOSTILE], { cwd: ws.dir });
      expect(run.code, run.stderr).toBe(0);
      const made = await runCli(['report', 'session', 'last', '--json'], { cwd: ws.dir });
      expect(made.code, made.stderr).toBe(0);
      const { session, report } = JSON.parse(made.stdout) as { session: string; report: string };
      expect(report).toBe(join(ws.dir, '.p2tui', 'reports', `${session}.html`));
      const text = readFileSync(report, 'utf8');
      expect(text).not.toContain('<img');
      // The user's message is in the report, as escaped text.
      expect(text).toContain('&lt;/script&gt;&lt;img src=x');

      const out = join(ws.dir, 'mine.html');
      const named = await runCli(['report', 'session', session, '--out', out], { cwd: ws.dir });
      expect(named.code, named.stderr).toBe(0);
      expect(named.stdout).toContain(`Report of session ${session} written to ${out}`);
      expect(existsSync(out)).toBe(true);

      const missing = await runCli(['report', 'session', session, '--out', join(ws.dir, 'no', 'such', 'r.html')], {
        cwd: ws.dir,
      });
      expect(missing.code).toBe(6);
      expect(missing.stderr).toContain('E_FILE_NOT_FOUND');

      const unknown = await runCli(['report', 'session', 'nope'], { cwd: ws.dir });
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain('E_UNKNOWN_SESSION');
    } finally {
      ws.cleanup();
    }
  });

  it('--open hands the file to $BROWSER, and a machine without a browser gets a notice, not a failure', async () => {
    const ws = tempWorkspace();
    ws.persona({ id: 'helper', description: 'Helps.' });
    try {
      expect((await runCli(['run', 'helper', 'hi'], { cwd: ws.dir })).code).toBe(0);
      const seen = join(ws.dir, 'opened.txt');
      const fake = join(ws.dir, 'fake-browser.sh');
      writeFileSync(fake, `#!/bin/sh\nprintf '%s' "$1" > '${seen}'\n`);
      chmodSync(fake, 0o755);
      const opened = await runCli(['report', 'session', 'last', '--open', '--json'], {
        cwd: ws.dir,
        env: { BROWSER: fake },
      });
      expect(opened.code, opened.stderr).toBe(0);
      const { report } = JSON.parse(opened.stdout) as { report: string };
      for (let i = 0; i < 200 && !existsSync(seen); i++) await new Promise((r) => setTimeout(r, 50));
      expect(readFileSync(seen, 'utf8')).toBe(report);

      const none = await runCli(['report', 'session', 'last', '--open'], {
        cwd: ws.dir,
        env: { BROWSER: join(ws.dir, 'no-such-browser') },
      });
      expect(none.code, none.stderr).toBe(0);
      expect(none.stderr).toContain('could not open a browser');
      expect(none.stderr).toContain(`open ${report} yourself`);
    } finally {
      ws.cleanup();
    }
  });
});
