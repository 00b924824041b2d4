import { isChoiceField, openForkForm } from '../fork-form.ts';
import { deleteBack } from '../text-input.ts';
import { backOverlay, pushOverlay, setOverlay } from '../state.ts';
import {
  editForm,
  forkAtCursor,
  formLeftRight,
  moveAgents,
  moveFormField,
  moveGrid,
  moveRewind,
  moveRollouts,
  set,
} from './helpers.ts';
import type { TuiCommand } from './model.ts';

/** Keys of the overlays that choose: help, agents, rewinding, the fork form, rollouts and their grid. */
export const OVERLAY_KEYS: readonly TuiCommand[] = [
  // Overlays
  {
    id: 'help-close',
    title: 'close help',
    keys: ['escape', '?', 'q'],
    scope: 'help',
    hint: 0,
    run: (a) => set(a, backOverlay),
  },
  // Scrolling help: reading-keys.ts.

  {
    id: 'agents-down',
    title: 'next agent',
    keys: ['j', 'down'],
    scope: 'agents',
    run: (a) => set(a, (s) => moveAgents(s, 1)),
  },
  {
    id: 'agents-up',
    title: 'previous agent',
    keys: ['k', 'up'],
    scope: 'agents',
    run: (a) => set(a, (s) => moveAgents(s, -1)),
  },
  {
    id: 'agents-choose',
    title: 'talk to this agent',
    keys: ['enter'],
    scope: 'agents',
    hint: 0,
    run: (a, s) => {
      const agent = s.overlay?.kind === 'agents' ? s.workspace.agents[s.overlay.cursor] : undefined;
      if (agent === undefined) return;
      a.bridge.close();
      set(a, (x) => ({
        ...setOverlay(x, null),
        screen: 'session',
        focus: 'input',
        newSessionAgent: agent.id,
        input: { text: '', cursor: 0 },
      }));
    },
  },
  {
    id: 'agents-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'agents',
    hint: 1,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'rewind-down',
    title: 'next step',
    keys: ['j', 'down'],
    scope: 'rewind',
    run: (a) => set(a, (s) => moveRewind(s, 1)),
  },
  {
    id: 'rewind-up',
    title: 'previous step',
    keys: ['k', 'up'],
    scope: 'rewind',
    run: (a) => set(a, (s) => moveRewind(s, -1)),
  },
  {
    id: 'rewind-top',
    title: 'first step',
    keys: ['g', 'home'],
    scope: 'rewind',
    run: (a) => set(a, (s) => moveRewind(s, -Infinity)),
  },
  {
    id: 'rewind-bottom',
    title: 'last step',
    keys: ['G', 'end'],
    scope: 'rewind',
    run: (a) => set(a, (s) => moveRewind(s, Infinity)),
  },
  {
    id: 'rewind-here',
    title: 'rewind here (fork and check out)',
    keys: ['enter'],
    scope: 'rewind',
    hint: 0,
    run: (a, s) => forkAtCursor(a, s, true),
  },
  {
    id: 'rewind-fork',
    title: 'fork here (keep this branch checked out)',
    keys: ['f'],
    scope: 'rewind',
    hint: 1,
    run: (a, s) => forkAtCursor(a, s, false),
  },
  {
    id: 'rewind-form',
    title: 'fork here with other settings (per agent or every agent) or effects policy',
    keys: ['o'],
    scope: 'rewind',
    hint: 2,
    run: (a, s) => {
      if (s.overlay?.kind !== 'rewind') return;
      const conv = s.open?.conversations.get(s.overlay.conversation);
      const entry = conv?.entries[s.overlay.cursor];
      if (conv === undefined || entry === undefined) return;
      const open = s.open;
      const form = openForkForm({
        atSeq: entry.seq,
        step: `${conv.agent} #${s.overlay.cursor}`,
        agent: conv.agent,
        sessionAgents: (open?.order ?? []).map((id) => open?.conversations.get(id)?.agent ?? conv.agent),
        workspaceAgents: s.workspace.agents.map((x) => x.id),
        sessionEffects: open?.effects ?? 'live',
      });
      set(a, (x) => pushOverlay(x, form));
    },
  },
  {
    id: 'rewind-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'rewind',
    hint: 3,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'form-next',
    title: 'next field',
    keys: ['tab', 'down'],
    scope: 'fork-form',
    hint: 1,
    run: (a) => set(a, (s) => moveFormField(s, 1)),
  },
  {
    id: 'form-previous',
    title: 'previous field',
    keys: ['shift-tab', 'up'],
    scope: 'fork-form',
    run: (a) => set(a, (s) => moveFormField(s, -1)),
  },
  {
    id: 'form-submit',
    title: 'fork and check out',
    keys: ['enter'],
    scope: 'fork-form',
    hint: 0,
    run: (a, s) => {
      if (s.overlay?.kind !== 'fork-form') return;
      const form = s.overlay;
      // Checked before the form closes: a typo keeps what was typed, with the reason in the status bar.
      const overrides = a.bridge.branching.formOverrides(form);
      if (overrides === undefined) return;
      set(a, (x) => setOverlay(x, null));
      a.bridge.branching.forkWith(form.atSeq, form.step, form.label.trim(), overrides);
    },
  },
  {
    id: 'form-cancel',
    title: 'cancel',
    keys: ['escape'],
    scope: 'fork-form',
    hint: 2,
    run: (a) => set(a, backOverlay),
  },
  {
    id: 'form-back',
    title: 'delete back',
    keys: ['backspace'],
    scope: 'fork-form',
    run: (a) => editForm(a, deleteBack),
  },
  {
    id: 'form-choose-next',
    title: 'next choice (applies to, effects)',
    keys: ['right'],
    scope: 'fork-form',
    hint: 3,
    when: (s) => s.overlay?.kind === 'fork-form' && isChoiceField(s.overlay.field),
    run: (a) => formLeftRight(a, 1),
  },
  {
    id: 'form-choose-previous',
    title: 'previous choice (applies to, effects)',
    keys: ['left'],
    scope: 'fork-form',
    when: (s) => s.overlay?.kind === 'fork-form' && isChoiceField(s.overlay.field),
    run: (a) => formLeftRight(a, -1),
  },
  {
    id: 'form-left',
    title: 'cursor left',
    keys: ['left'],
    scope: 'fork-form',
    run: (a) => formLeftRight(a, -1),
  },
  {
    id: 'form-right',
    title: 'cursor right',
    keys: ['right'],
    scope: 'fork-form',
    run: (a) => formLeftRight(a, 1),
  },
  {
    id: 'form-clear',
    title: 'clear the field',
    keys: ['ctrl-u'],
    scope: 'fork-form',
    run: (a) => editForm(a, () => ({ text: '', cursor: 0 })),
  },

  {
    id: 'rollouts-open',
    title: 'rollouts',
    keys: ['R'],
    scope: 'sessions',
    hint: 30,
    run: (a) => a.bridge.grid.openRollouts(),
  },
  {
    id: 'session-rollouts',
    title: 'rollouts',
    keys: ['R'],
    scope: 'session',
    run: (a) => a.bridge.grid.openRollouts(),
  },
  {
    id: 'rollouts-down',
    title: 'next rollout',
    keys: ['j', 'down'],
    scope: 'rollouts',
    run: (a) => set(a, (s) => moveRollouts(s, 1)),
  },
  {
    id: 'rollouts-up',
    title: 'previous rollout',
    keys: ['k', 'up'],
    scope: 'rollouts',
    run: (a) => set(a, (s) => moveRollouts(s, -1)),
  },
  {
    id: 'rollouts-grid',
    title: 'open its grid',
    keys: ['enter'],
    scope: 'rollouts',
    hint: 0,
    run: (a, s) => {
      const item = s.overlay?.kind === 'rollouts' ? s.overlay.items[s.overlay.cursor] : undefined;
      if (item !== undefined) a.bridge.grid.openGrid(item.id);
    },
  },
  {
    id: 'rollouts-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'rollouts',
    hint: 2,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'grid-down',
    title: 'next variant',
    keys: ['j', 'down'],
    scope: 'grid',
    run: (a) => set(a, (s) => moveGrid(s, 1, 0)),
  },
  {
    id: 'grid-up',
    title: 'previous variant',
    keys: ['k', 'up'],
    scope: 'grid',
    run: (a) => set(a, (s) => moveGrid(s, -1, 0)),
  },
  {
    id: 'grid-right',
    title: 'next column',
    keys: ['l', 'right'],
    scope: 'grid',
    run: (a) => set(a, (s) => moveGrid(s, 0, 1)),
  },
  {
    id: 'grid-left',
    title: 'previous column',
    keys: ['h', 'left'],
    scope: 'grid',
    run: (a) => set(a, (s) => moveGrid(s, 0, -1)),
  },
  {
    id: 'grid-repeat',
    title: 'next repeat (what Enter opens)',
    keys: ['.'],
    scope: 'grid',
    run: (a) =>
      set(a, (s) => (s.overlay?.kind === 'grid' ? setOverlay(s, { ...s.overlay, repeat: s.overlay.repeat + 1 }) : s)),
  },
  {
    id: 'grid-open',
    title: 'open the cell’s session',
    keys: ['enter'],
    scope: 'grid',
    hint: 0,
    run: (a, s) => a.bridge.grid.openGridCell(s),
  },
  {
    id: 'grid-metric',
    title: 'next metric',
    keys: ['m'],
    scope: 'grid',
    hint: 1,
    run: (a) =>
      a.bridge.grid.regrid((o, g) => ({
        ...o,
        metric: g.metrics[(g.metrics.indexOf(g.metric ?? '') + 1) % Math.max(1, g.metrics.length)] ?? '',
      })),
  },
  {
    id: 'grid-columns',
    title: 'columns: scenarios / metrics',
    keys: ['c'],
    scope: 'grid',
    hint: 2,
    run: (a) => a.bridge.grid.regrid((o) => ({ ...o, by: o.by === 'scenarios' ? 'metrics' : 'scenarios' })),
  },
  {
    id: 'grid-sort',
    title: 'sort: spec order / best first',
    keys: ['s'],
    scope: 'grid',
    hint: 3,
    run: (a) => a.bridge.grid.regrid((o) => ({ ...o, sort: o.sort === 'spec' ? 'score' : 'spec' })),
  },
  {
    id: 'grid-close',
    title: 'back to the rollouts',
    keys: ['escape', 'q'],
    scope: 'grid',
    hint: 4,
    run: (a) => a.bridge.grid.openRollouts(),
  },
];
