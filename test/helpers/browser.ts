import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'puppeteer-core';
import { HOST_REQUIRED } from './host-tools.ts';

/**
 * The report tests open each page in a real headless Chromium (Debian's `chromium`, which `.ci/run` installs) through
 * puppeteer-core: what a person opening the file sees, with the page's Content-Security-Policy enforced, is what
 * they assert. Without a Chromium the tests skip and say so, except in CI (P2TUI_TESTS_REQUIRE_HOST=1).
 */
const CANDIDATES = [
  process.env['CHROMIUM_PATH'],
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
];

export const chromiumPath: string | undefined = CANDIDATES.find((p): p is string => p !== undefined && existsSync(p));
export const haveChromium = HOST_REQUIRED || chromiumPath !== undefined;

/** Screenshots of the reports the tests open, kept after the run (CI can upload the folder). */
export const ARTIFACTS = join(new URL('../..', import.meta.url).pathname, 'test-artifacts', 'reports');

export interface OpenedPage {
  readonly title: string;
  /** Every console message of the page, `type: text` (CSP violations are console errors too). */
  readonly console: readonly string[];
  /** Uncaught errors in the page. */
  readonly errors: readonly string[];
  /** Every URL the page asked for (the file itself first): a self-contained page asks for nothing else. */
  readonly requests: readonly string[];
  /** Whether any script ran (a page with a planted `onerror` would set it). */
  readonly scriptRan: boolean;
  /** The page's text as a person reads it (innerText of the body, with every <details> opened first). */
  readonly text: string;
  /** The captions of the plots (figure.plot) that hold an <svg> with marks drawn. */
  readonly plots: readonly string[];
  /** Query the page after load: the count of elements a selector matches. */
  readonly counts: Readonly<Record<string, number>>;
  readonly csp: string | null;
}

interface PageRead {
  title: string;
  text: string;
  plots: string[];
  counts: Record<string, number>;
  csp: string | null;
  ran: boolean;
}

/** Runs in the page (as text: this project compiles without the DOM's types). */
const READ_PAGE = `(selectors) => {
  for (const d of document.querySelectorAll('details')) d.open = true;
  const plots = [...document.querySelectorAll('figure.plot')]
    .filter((f) => f.querySelectorAll('svg path, svg line, svg rect').length > 1)
    .map((f) => f.querySelector('figcaption')?.textContent ?? '');
  const counts = {};
  for (const s of selectors) counts[s] = document.querySelectorAll(s).length;
  return {
    title: document.title,
    text: document.body.innerText,
    plots,
    counts,
    csp: document.querySelector('meta[http-equiv="Content-Security-Policy"]')?.getAttribute('content') ?? null,
    ran: window.__p2tuiScriptRan === true,
  };
}`;

let shared: Browser | undefined;

async function browser(): Promise<Browser> {
  if (shared !== undefined && shared.connected) return shared;
  if (chromiumPath === undefined) throw new Error('no Chromium found (CHROMIUM_PATH, /usr/bin/chromium)');
  const { default: puppeteer } = await import('puppeteer-core');
  shared = await puppeteer.launch({
    executablePath: chromiumPath,
    headless: true,
    // Root in a container has no user namespace for the sandbox; the page is our own file, opened offline.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
  });
  return shared;
}

export async function closeBrowser(): Promise<void> {
  await shared?.close();
  shared = undefined;
}

/**
 * Opens a report file, collects what went wrong, reads it, and keeps a full-page screenshot as
 * test-artifacts/reports/<name>.png. `selectors` are counted after load (e.g. 'figure.plot svg .mark-symbol path').
 */
export async function openPage(file: string, name: string, selectors: readonly string[] = []): Promise<OpenedPage> {
  const page = await (await browser()).newPage();
  try {
    const consoleMessages: string[] = [];
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => consoleMessages.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => errors.push(e instanceof Error ? e.message : String(e)));
    page.on('request', (r) => requests.push(r.url()));
    await page.setViewport({ width: 1280, height: 900 });
    // A planted script would set this; the page's own policy allows no script, so it must stay unset.
    await page.evaluateOnNewDocument('window.__p2tuiScriptRan = false;');
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    // Let an <img onerror> (or anything else deferred) fire before reading.
    await new Promise((r) => setTimeout(r, 150));
    const read = (await page.evaluate(`(${READ_PAGE})(${JSON.stringify(selectors)})`)) as PageRead;
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`) as `${string}.png`, fullPage: true });
    return {
      title: read.title,
      console: consoleMessages,
      errors,
      requests,
      scriptRan: read.ran,
      text: read.text,
      plots: read.plots,
      counts: read.counts,
      csp: read.csp,
    };
  } finally {
    await page.close();
  }
}
