import type { Store } from '../store/store.ts';
import type { RolloutRow } from '../store/rollouts.ts';
import { html } from './html.ts';
import { renderPage } from './page.ts';

/**
 * The rollout report: one self-contained page. (Being built: per-variant mean ± 95% CI, paired differences to the
 * baseline, score against cost, the grid with every repeat, flaky scenarios, the spec, each cell's transcript.)
 */
export async function rolloutReport(store: Store, rollout: RolloutRow, generatedAt: Date): Promise<string> {
  const cells = store.rollouts.cells(rollout.id);
  return renderPage({
    title: `Rollout ${rollout.name}`,
    subtitle: `${rollout.id} · ${cells.length} cells · report made ${generatedAt.toISOString()}`,
    body: html`<h2>Cells</h2>
      <p>${cells.length}</p>`,
  });
}
