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
/* --- session report (src/report/session/): rules scoped to its <main> --- */
.session-report table.kv th { width: 180px; }
.session-report .notice { border: 1px solid var(--warn); background: #fff8e6; padding: 6px 10px; border-radius: 4px; }
.session-report .more { color: var(--muted); font-style: italic; }
.session-report .tree li.conversation { margin: 4px 0; }
.session-report .delegation { margin-left: 14px; font-size: 13px; }
.session-report .answer { border-left: 3px solid var(--good); padding-left: 10px; }
.session-report .entry { border-top: 1px solid var(--soft); padding-top: 4px; }
.session-report .entry pre { margin: 4px 0; }
.session-report .entry.kind-user_message .who, .session-report .entry.kind-user_response .who { color: var(--accent); }
.session-report .entry.kind-tool_call .who, .session-report .entry.kind-tool_result .who { color: var(--warn); }
.session-report .entry.kind-waiting { color: var(--muted); }
.session-report .approval { font-size: 13px; margin-top: 2px; }
.session-report .diff .del { background: #ffebe9; } .session-report .diff .ins { background: #e6ffec; }
.session-report .diff .del::before { content: "− "; color: var(--bad); } .session-report .diff .ins::before { content: "+ "; color: var(--good); }
.session-report .tag.phase-finished, .session-report .tag.status-finished { background: #dafbe1; } .session-report .tag.phase-failed, .session-report .tag.status-failed { background: #ffebe9; }
.session-report ul.entries, .session-report ul.criteria { margin: 4px 0; padding-left: 18px; }
.session-report section.transcript { margin: 10px 0 18px; }
.session-report td.fork { min-width: 240px; } .session-report td.diverges { min-width: 320px; }
/* --- rollout report (src/report/rollout/): rules scoped to its <main> --- */
.rollout-report table.facts th { width: 130px; }
.rollout-report .more { color: var(--warn); font-style: italic; }
.rollout-report table.grid td, .rollout-report table.grid th.scenario { min-width: 150px; }
.rollout-report table.grid th.scenario { font-weight: 600; max-width: 320px; }
.rollout-report table.grid th.scenario .text { font-weight: 400; font-size: 12px; }
.rollout-report ul.runs { list-style: none; margin: 0; padding: 0; }
.rollout-report li.run { margin: 1px 0; }
.rollout-report li.run a { text-decoration: none; font-variant-numeric: tabular-nums; }
.rollout-report li.run.failed a { color: var(--bad); font-weight: 600; }
.rollout-report li.run.low a { color: var(--warn); }
.rollout-report li.run.running a, .rollout-report li.run.pending a { color: var(--warn); }
.rollout-report li.run .error { color: var(--bad); font-size: 12px; max-width: 280px; overflow-wrap: anywhere; }
.rollout-report details.cell > summary { padding: 2px 0; }
.rollout-report .cellhead { font-weight: 600; margin: 6px 0; }
.rollout-report .conv { margin: 10px 0 2px; font-size: 12px; color: var(--muted); border-bottom: 1px dotted var(--line); }
.rollout-report .entry { display: grid; grid-template-columns: 200px 1fr; gap: 10px; margin: 3px 0; }
.rollout-report .entry .who { overflow-wrap: anywhere; }
.rollout-report .entry.waiting, .rollout-report .entry.finished { color: var(--muted); font-size: 12px; }
.rollout-report .entry.bad .who, .rollout-report .bad { color: var(--bad); }
.rollout-report .entry pre { margin: 0; }
.rollout-report .entry .text { white-space: pre-wrap; overflow-wrap: anywhere; min-width: 0; }
.rollout-report .turns.depth-1 { margin-left: 24px; } .rollout-report .turns.depth-2 { margin-left: 48px; }
.rollout-report .turns.depth-3 { margin-left: 72px; } .rollout-report .turns.depth-4 { margin-left: 96px; }
.rollout-report ul.criteria { margin: 4px 0 0; padding-left: 18px; }
.rollout-report h4 { font-size: 13px; margin: 12px 0 4px; }
.rollout-report pre.spec { max-height: 480px; overflow: auto; }
/* --- end of rollout report --- */
`;

export interface PageInput {
  /** The page's title and heading. */
  readonly title: string;
  /** One line under the heading: what the report is of and when it was made. */
  readonly subtitle: string;
  readonly body: Html;
  /** Which report: its <main> carries `<kind>-report`, the class its own rules are scoped to. */
  readonly kind: 'rollout' | 'session' | 'page';
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
<main class="${input.kind}-report">
${input.body}
</main>
</body>
</html>
`;
  return page.text;
}
