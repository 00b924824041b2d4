import type { Timer } from '../../core/clock.ts';
import { formatAge } from '../../commands/render/text.ts';
import { gridOf, type Grid } from '../../rollout/grid.ts';
import { cellEffects } from '../../rollout/report.ts';
import type { EffectsPolicy } from '../../engine/effects-policy.ts';
import type { CellRow } from '../../store/rollouts.ts';
import { notify, setOverlay, type Overlay, type RolloutItem, type TuiState } from '../state.ts';
import type { BridgeHost } from './host.ts';

/** The rollouts overlay and a rollout's grid, kept current while it shows (a running rollout fills in live). */
export class RolloutGrid {
  private readonly host: BridgeHost;
  private gridTimer: Timer | undefined;
  private listTimer: Timer | undefined;
  /**
   * The policy each cell ran under, by cell id: read once per cell (a cell's session keeps its policy), so a grid of
   * thousands of cells redrawn every 500 ms does not look every session up again.
   */
  private readonly effects = new Map<string, EffectsPolicy>();
  /** Cell counts of the rollouts that are not running, by rollout id, with the status they were read in. */
  private readonly settled = new Map<string, { key: string; cells: number; done: number; failed: number }>();

  constructor(host: BridgeHost) {
    this.host = host;
  }

  dispose(): void {
    this.gridTimer?.cancel();
    this.listTimer?.cancel();
  }

  /** Rollouts of this workspace, newest first. */
  rollouts(): RolloutItem[] {
    const store = this.host.engine.store;
    return store.rollouts.list(100).map((r) => {
      // A rollout that is not running keeps its counts (until resumed, which makes it running): read its cells once,
      // not on every refresh of the open list.
      const key = `${r.status}:${r.finishedAt ?? ''}`;
      let counts = r.status === 'running' ? undefined : this.settled.get(r.id);
      if (counts === undefined || counts.key !== key) {
        const cells = store.rollouts.cells(r.id);
        counts = {
          key,
          cells: cells.length,
          done: cells.filter((c) => c.status === 'done').length,
          failed: cells.filter((c) => c.status === 'failed').length,
        };
        if (r.status !== 'running') this.settled.set(r.id, counts);
      }
      return {
        id: r.id,
        name: r.name,
        status: r.status,
        cells: counts.cells,
        done: counts.done,
        failed: counts.failed,
        // formatAge says "… ago" itself.
        age: formatAge(this.host.app.clock.now() - r.createdAt),
      };
    });
  }

  /**
   * Opens the rollouts list and keeps it current while it shows: a rollout started or finished by another process
   * (the CLI) appears and counts up without reopening ("No rollouts yet" stayed after a CLI rollout finished).
   */
  openRollouts(): void {
    this.host.store.set((s) => setOverlay(s, { kind: 'rollouts', cursor: 0, items: this.rollouts() }));
    this.listTimer?.cancel();
    this.listTimer = this.host.app.clock.interval(() => {
      const s = this.host.store.get();
      if (s.overlay?.kind !== 'rollouts' || this.host.engine.store.isClosed) {
        this.listTimer?.cancel();
        this.listTimer = undefined;
        return;
      }
      const items = this.rollouts();
      // Only a change redraws (the ages tick once a second at most).
      if (JSON.stringify(items) === JSON.stringify(s.overlay.items)) return;
      this.host.store.set((x) =>
        x.overlay?.kind === 'rollouts'
          ? setOverlay(x, { ...x.overlay, items, cursor: Math.min(x.overlay.cursor, Math.max(0, items.length - 1)) })
          : x,
      );
    }, 500);
  }

  /** Opens a rollout's grid, and keeps it current while it shows (a running rollout fills in live). */
  openGrid(rollout: string): void {
    const row = this.host.engine.store.rollouts.get(rollout);
    if (row === undefined) return;
    const options = { by: 'scenarios' as const, sort: 'spec' as const };
    this.host.store.set((s) =>
      setOverlay(s, {
        kind: 'grid',
        rollout,
        title: `${row.name} (${row.id})`,
        grid: this.gridOf(this.host.engine.store.rollouts.cells(rollout), options),
        row: 0,
        col: 0,
        repeat: 0,
        options,
      }),
    );
    this.gridTimer?.cancel();
    this.gridTimer = this.host.app.clock.interval(() => {
      const s = this.host.store.get();
      // Help, the palette or the notices opened over the grid keep it: it goes on following when Esc comes back.
      const here = (o: Overlay | null): boolean => o?.kind === 'grid' && o.rollout === rollout;
      if (this.host.engine.store.isClosed || (!here(s.overlay) && !s.overlayBack.some(here))) {
        this.gridTimer?.cancel();
        return;
      }
      if (here(s.overlay)) this.regrid((o) => o);
    }, 500);
  }

  /** Rebuilds the open grid with changed options (metric, columns, sort), from the cells as they are now. */
  regrid(
    change: (
      options: Extract<Overlay, { kind: 'grid' }>['options'],
      grid: Grid,
    ) => Extract<Overlay, { kind: 'grid' }>['options'],
  ): void {
    const s = this.host.store.get();
    if (s.overlay?.kind !== 'grid') return;
    const options = change(s.overlay.options, s.overlay.grid);
    const grid = this.gridOf(this.host.engine.store.rollouts.cells(s.overlay.rollout), options);
    const row = Math.min(s.overlay.row, Math.max(0, grid.rows.length - 1));
    const col = Math.min(s.overlay.col, Math.max(0, grid.columns.length - 1));
    this.host.store.set((x) =>
      x.overlay?.kind === 'grid' ? setOverlay(x, { ...x.overlay, options, grid, row, col }) : x,
    );
  }

  /** The grid of these cells, each row saying the effects policy its cells ran under. */
  private gridOf(cells: readonly CellRow[], options: Parameters<typeof gridOf>[1]): Grid {
    const unknown = cells.filter((c) => c.session !== null && !this.effects.has(c.id));
    if (unknown.length > 0) for (const [id, p] of cellEffects(this.host.engine.store, unknown)) this.effects.set(id, p);
    return gridOf(cells, { ...options, effects: this.effects });
  }

  /** Opens the session of the grid cell under the cursor (its repeat chosen with `.`). */
  openGridCell(s: TuiState): void {
    if (s.overlay?.kind !== 'grid') return;
    const cell = s.overlay.grid.rows[s.overlay.row]?.cells[s.overlay.col];
    const runs = cell?.runs.filter((r) => r.session !== null) ?? [];
    if (runs.length === 0) {
      this.host.store.set((x) => notify(x, 'that cell has no session yet (not started)', 'warn'));
      return;
    }
    const run = runs[s.overlay.repeat % runs.length]!;
    // Leaving that session (Esc) comes back to this grid.
    this.host.store.set((x) => ({ ...setOverlay(x, null), sessionFrom: x.overlay }));
    this.host.open(run.session!);
  }
}
