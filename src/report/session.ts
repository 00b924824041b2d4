import { treeOrder } from '../engine/session-view.ts';
import type { SessionRow } from '../store/sessions.ts';
import type { Store } from '../store/store.ts';
import { html } from './html.ts';
import { renderPage } from './page.ts';
import { readSessionData } from './session/read.ts';
import { paymentsSection, scoresSection, usageSection } from './session/tables.ts';
import { transcriptsSection } from './session/transcript.ts';
import { branchesSection, headerSection, treeSection } from './session/tree.ts';

/**
 * The session report: one self-contained page of a session as the database holds it. Its header (who started it,
 * status, branch, effects policy, simulated or not, tokens and cost); the conversation tree with its delegations; every
 * branch with where it was forked and where it diverges; the judge's scores; the payments; usage and cost per agent
 * with a plot; and each conversation's transcript, linked from the tree.
 */
export async function sessionReport(store: Store, session: SessionRow, generatedAt: Date): Promise<string> {
  const data = readSessionData(store, session);
  const usage = new Map<string, { tokens: number; costUsd: number }>();
  for (const step of store.calls.steps(session.id)) {
    const u = usage.get(step.conversation) ?? { tokens: 0, costUsd: 0 };
    usage.set(step.conversation, {
      tokens: u.tokens + step.tokensIn + step.tokensOut,
      costUsd: u.costUsd + step.costUsd,
    });
  }
  const sections = [
    ['conversations', 'Conversations'],
    ['branches', 'Branches'],
    ['scores', 'Scores'],
    ['payments', 'Payments'],
    ['usage', 'Usage'],
    ['transcripts', 'Transcripts'],
  ] as const;
  const body = html`<nav class="toc">${sections.map(([id, name]) => html`<a href="#${id}">${name}</a>`)}</nav>
    ${headerSection(data, generatedAt)} ${treeSection(data, usage)} ${branchesSection(data)} ${scoresSection(data)}
    ${paymentsSection(data)} ${await usageSection(data)}
    ${transcriptsSection(data, treeOrder(data.view.conversations))}`;
  return renderPage({
    kind: 'session',
    title: `Session ${session.id}`,
    subtitle: `${session.agent} · ${session.status} · report made ${generatedAt.toISOString()}`,
    body,
  });
}
