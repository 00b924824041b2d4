import { createHash } from 'node:crypto';
import { Html, html } from './html.ts';

/**
 * The page every report is: one file, no network, no script. Its Content-Security-Policy allows the one inline
 * stylesheet (by its hash) and nothing else: no script of any origin, no images but data: URLs, no fetches, no forms,
 * no base URL. A reply that slipped past escaping could still run nothing. Plots are inline SVG (drawn in Node), and
 * transcripts open with <details> or a link to their #anchor, so the page needs no script to be read.
 */

const STYLE = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5d6675; --line: #d9dde3; --soft: #f4f6f8; --good: #1a7f37;
  --bad: #c62828; --warn: #9a6700; --accent: #3658c7; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: #fff; }
header.page { padding: 20px 32px 12px; border-bottom: 1px solid var(--line); }
header.page h1 { margin: 0 0 4px; font-size: 20px; }
header.page p { margin: 0; color: var(--muted); }
main { padding: 8px 32px 48px; max-width: 1200px; }
h2 { font-size: 16px; margin: 28px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 18px 0 6px; }
nav.toc { margin: 12px 0; color: var(--muted); }
nav.toc a { margin-right: 14px; }
a { color: var(--accent); }
table { border-collapse: collapse; margin: 6px 0 12px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: var(--muted); }
.good { color: var(--good); } .bad { color: var(--bad); } .warn { color: var(--warn); }
figure.plot { margin: 8px 0 16px; }
figure.plot svg { max-width: 100%; height: auto; }
figure.plot figcaption { color: var(--muted); font-size: 12px; }
pre, .text { white-space: pre-wrap; overflow-wrap: anywhere; }
pre { background: var(--soft); padding: 8px; border-radius: 4px; font: 12px/1.45 ui-monospace, "SFMono-Regular", Menlo, monospace; }
details { margin: 4px 0; }
details > summary { cursor: pointer; }
.transcript { border-left: 3px solid var(--line); padding-left: 10px; margin: 6px 0 10px; }
.transcript:target, :target > .transcript { border-left-color: var(--accent); }
.entry { margin: 6px 0; }
.entry .who { font-weight: 600; }
.tree ul { list-style: none; padding-left: 18px; margin: 2px 0; border-left: 1px dotted var(--line); }
.tree > ul { padding-left: 0; border-left: none; }
.tag { display: inline-block; padding: 0 6px; border-radius: 8px; background: var(--soft); font-size: 12px; }
@media print { details { break-inside: avoid; } }
/* --- rollout report (src/report/rollout/) --- */
table.facts th { width: 130px; }
.more { color: var(--warn); font-style: italic; }
table.grid td, table.grid th.scenario { min-width: 150px; }
table.grid th.scenario { font-weight: 600; max-width: 320px; }
table.grid th.scenario .text { font-weight: 400; font-size: 12px; }
ul.runs { list-style: none; margin: 0; padding: 0; }
li.run { margin: 1px 0; }
li.run a { text-decoration: none; font-variant-numeric: tabular-nums; }
li.run.failed a { color: var(--bad); font-weight: 600; }
li.run.low a { color: var(--warn); }
li.run.running a, li.run.pending a { color: var(--warn); }
li.run .error { color: var(--bad); font-size: 12px; max-width: 280px; overflow-wrap: anywhere; }
details.cell > summary { padding: 2px 0; }
.cellhead { font-weight: 600; margin: 6px 0; }
.conv { margin: 10px 0 2px; font-size: 12px; color: var(--muted); border-bottom: 1px dotted var(--line); }
.entry { display: grid; grid-template-columns: 200px 1fr; gap: 10px; margin: 3px 0; }
.entry .who { overflow-wrap: anywhere; }
.entry.waiting, .entry.finished { color: var(--muted); font-size: 12px; }
.entry.bad .who, .bad { color: var(--bad); }
.entry pre { margin: 0; }
.entry .text { white-space: pre-wrap; overflow-wrap: anywhere; min-width: 0; }
.turns.depth-1 { margin-left: 24px; } .turns.depth-2 { margin-left: 48px; }
.turns.depth-3 { margin-left: 72px; } .turns.depth-4 { margin-left: 96px; }
ul.criteria { margin: 4px 0 0; padding-left: 18px; }
h4 { font-size: 13px; margin: 12px 0 4px; }
pre.spec { max-height: 480px; overflow: auto; }
/* --- end of rollout report --- */
`;

export interface PageInput {
  /** The page's title and heading. */
  readonly title: string;
  /** One line under the heading: what the report is of and when it was made. */
  readonly subtitle: string;
  readonly body: Html;
}

export function contentSecurityPolicy(style: string): string {
  const hash = createHash('sha256').update(style).digest('base64');
  return [
    "default-src 'none'",
    `style-src 'sha256-${hash}'`,
    "script-src 'none'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

export function renderPage(input: PageInput): string {
  // The stylesheet goes in verbatim, element and all: the policy names the hash of exactly these bytes.
  const style = new Html(`<style>${STYLE}</style>`);
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${contentSecurityPolicy(STYLE)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="generator" content="p2tui">
<title>${input.title}</title>
${style}
</head>
<body>
<header class="page"><h1>${input.title}</h1><p>${input.subtitle}</p></header>
<main>
${input.body}
</main>
</body>
</html>
`;
  return page.text;
}
