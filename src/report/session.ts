import type { Store } from '../store/store.ts';
import type { SessionRow } from '../store/sessions.ts';
import { html } from './html.ts';
import { renderPage } from './page.ts';

/**
 * The session report: one self-contained page. (Being built: the conversation tree with delegations, branches and
 * where they diverge, judge scores, payments, usage and cost per agent.)
 */
export async function sessionReport(store: Store, session: SessionRow, generatedAt: Date): Promise<string> {
  return renderPage({
    title: `Session ${session.id}`,
    subtitle: `report made ${generatedAt.toISOString()}`,
    body: html`<h2>Conversations</h2>
      <p>${store.sessions.conversations(session.id).length}</p>`,
  });
}
