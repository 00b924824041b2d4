import { paletteCompletions } from '../palette.ts';
import { deleteBack, moveCursor, deleteWord } from '../text-input.ts';
import { backOverlay, notify, pushOverlay, setOverlay } from '../state.ts';
import {
  editPalette,
  moveArtifacts,
  moveBranches,
  movePaletteSelection,
  scrollDiff,
  scrollOverlay,
  set,
} from './helpers.ts';
import type { TuiCommand } from './model.ts';

/** Columns one ctrl-f / ctrl-b moves the palette's wide output sideways. */
const SIDEWAYS = 20;

/** Keys of the overlays that compare and confirm: branches, artifacts, diffs, confirmations, the palette. */
export const COMPARE_KEYS: readonly TuiCommand[] = [
  {
    id: 'branches-down',
    title: 'next branch',
    keys: ['j', 'down'],
    scope: 'branches',
    run: (a) => set(a, (s) => moveBranches(s, 1)),
  },
  {
    id: 'branches-up',
    title: 'previous branch',
    keys: ['k', 'up'],
    scope: 'branches',
    run: (a) => set(a, (s) => moveBranches(s, -1)),
  },
  {
    id: 'branches-checkout',
    title: 'check out',
    keys: ['enter'],
    scope: 'branches',
    hint: 0,
    run: (a, s) => {
      const item = s.overlay?.kind === 'branches' ? s.overlay.items[s.overlay.cursor] : undefined;
      set(a, (x) => setOverlay(x, null));
      if (item !== undefined && !item.checkedOut) a.bridge.branching.checkout(item.id);
    },
  },
  {
    id: 'branches-mark',
    title: 'mark (the one to compare from)',
    keys: ['m'],
    scope: 'branches',
    hint: 1,
    run: (a) =>
      set(a, (s) =>
        s.overlay?.kind === 'branches'
          ? setOverlay(s, { ...s.overlay, marked: s.overlay.marked === s.overlay.cursor ? null : s.overlay.cursor })
          : s,
      ),
  },
  {
    id: 'branches-diff',
    title: 'compare the marked branch (else the checked-out one) with this one',
    keys: ['d'],
    scope: 'branches',
    hint: 1,
    run: (a, s) => {
      if (s.overlay?.kind !== 'branches') return;
      const item = s.overlay.items[s.overlay.cursor];
      const marked =
        s.overlay.marked === null || s.overlay.marked === undefined ? undefined : s.overlay.items[s.overlay.marked];
      if (item === undefined) return;
      // Marked: any two branches, marked → cursor; not marked: the cursor's branch → the checked-out one, as before.
      const overlay =
        marked === undefined ? a.bridge.branching.diff(item.id) : a.bridge.branching.diff(marked.id, item.id);
      if (overlay !== undefined) set(a, (x) => pushOverlay(x, overlay));
    },
  },
  {
    id: 'branches-close',
    title: 'close',
    keys: ['escape', 'q', 'b'],
    scope: 'branches',
    hint: 2,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'artifacts-down',
    title: 'next',
    keys: ['j', 'down'],
    scope: 'artifacts',
    run: (a) => set(a, (s) => moveArtifacts(s, 1)),
  },
  {
    id: 'artifacts-up',
    title: 'previous',
    keys: ['k', 'up'],
    scope: 'artifacts',
    run: (a) => set(a, (s) => moveArtifacts(s, -1)),
  },
  {
    id: 'artifacts-mark',
    title: 'mark (the one to compare from)',
    keys: ['m'],
    scope: 'artifacts',
    hint: 0,
    run: (a) =>
      set(a, (s) => (s.overlay?.kind === 'artifacts' ? setOverlay(s, { ...s.overlay, marked: s.overlay.cursor }) : s)),
  },
  {
    id: 'artifacts-diff',
    title: 'compare the marked one with this one',
    keys: ['d', 'enter'],
    scope: 'artifacts',
    hint: 1,
    run: (a, s) => {
      if (s.overlay?.kind !== 'artifacts' || s.overlay.marked === null)
        return set(a, (x) => notify(x, 'mark one first (m), then d on another', 'warn'));
      const from = s.overlay.items[s.overlay.marked];
      const to = s.overlay.items[s.overlay.cursor];
      if (from === undefined || to === undefined) return;
      const overlay = a.bridge.branching.diffArtifacts(from, to);
      if (overlay !== undefined) set(a, (x) => pushOverlay(x, overlay));
    },
  },
  {
    id: 'artifacts-all-branches',
    title: 'every branch’s entries / the checked-out branch’s',
    keys: ['a'],
    scope: 'artifacts',
    run: (a, s) => {
      if (s.overlay?.kind !== 'artifacts') return;
      const { items: before, cursor, marked } = s.overlay;
      const allBranches = s.overlay.allBranches !== true;
      const items = a.bridge.branching.artifacts(allBranches);
      // The cursor and the mark stay on the same items when they are still listed.
      const find = (index: number | null): number => {
        const ref = index === null ? undefined : before[index]?.ref;
        return ref === undefined ? -1 : items.findIndex((i) => i.ref === ref);
      };
      const markedAt = find(marked);
      set(a, (x) =>
        setOverlay(x, {
          kind: 'artifacts',
          items,
          allBranches,
          cursor: Math.max(0, find(cursor)),
          marked: markedAt === -1 ? null : markedAt,
        }),
      );
    },
  },
  {
    id: 'artifacts-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'artifacts',
    hint: 2,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'diff-down',
    title: 'scroll down',
    keys: ['j', 'down'],
    scope: 'diff',
    run: (a) => set(a, (s) => scrollDiff(s, a, 1)),
  },
  {
    id: 'diff-up',
    title: 'scroll up',
    keys: ['k', 'up'],
    scope: 'diff',
    run: (a) => set(a, (s) => scrollDiff(s, a, -1)),
  },
  {
    id: 'diff-page-down',
    title: 'page down',
    keys: ['pagedown', 'ctrl-f'],
    scope: 'diff',
    hint: 1,
    run: (a) => set(a, (s) => scrollDiff(s, a, 'page')),
  },
  {
    id: 'diff-page-up',
    title: 'page up',
    keys: ['pageup', 'ctrl-b'],
    scope: 'diff',
    run: (a) => set(a, (s) => scrollDiff(s, a, '-page')),
  },
  {
    id: 'diff-top',
    title: 'top',
    keys: ['g', 'home'],
    scope: 'diff',
    run: (a) => set(a, (s) => scrollDiff(s, a, 'top')),
  },
  {
    id: 'diff-mode',
    title: 'side by side / unified',
    keys: ['u'],
    scope: 'diff',
    hint: 0,
    run: (a) =>
      set(a, (s) =>
        s.overlay?.kind === 'diff'
          ? setOverlay(s, { ...s.overlay, mode: s.overlay.mode === 'side' ? 'unified' : 'side', scroll: 0 })
          : s,
      ),
  },
  {
    id: 'diff-close',
    title: 'close',
    keys: ['escape', 'q'],
    scope: 'diff',
    hint: 2,
    run: (a) => set(a, backOverlay),
  },

  {
    id: 'confirm-yes',
    title: 'yes',
    keys: ['y', 'enter'],
    scope: 'confirm',
    hint: 0,
    run: (a, s) => {
      const action = s.overlay?.kind === 'confirm' ? s.overlay.action : undefined;
      set(a, (x) => setOverlay(x, null));
      if (action === 'cancel-session') a.bridge.cancel();
      else if (action === 'quit') a.quit();
    },
  },
  {
    id: 'confirm-no',
    title: 'no',
    keys: ['n', 'escape', 'q'],
    scope: 'confirm',
    hint: 1,
    run: (a) => set(a, (s) => setOverlay(s, null)),
  },

  {
    id: 'palette-run',
    title: 'run (or complete)',
    keys: ['enter'],
    scope: 'palette',
    hint: 0,
    run: (a, s) => {
      if (s.overlay?.kind !== 'palette' || s.overlay.running) return;
      const typed = s.overlay.text.trim();
      const exact = paletteCompletions(typed).some((c) => typed === c.text || typed.startsWith(`${c.text} `));
      const selected = paletteCompletions(s.overlay.text)[s.overlay.selected];
      if (!exact && selected !== undefined)
        editPalette(a, () => ({ text: `${selected.text} `, cursor: selected.text.length + 1 }));
      else if (typed !== '') {
        // A new output starts at its left edge.
        set(a, (x) => (x.overlay?.kind === 'palette' ? setOverlay(x, { ...x.overlay, hscroll: 0 }) : x));
        a.runPalette(typed);
      }
    },
  },
  {
    id: 'palette-complete',
    title: 'complete',
    keys: ['tab'],
    scope: 'palette',
    hint: 1,
    run: (a, s) => {
      if (s.overlay?.kind !== 'palette') return;
      const completion = paletteCompletions(s.overlay.text)[s.overlay.selected];
      if (completion !== undefined)
        editPalette(a, () => ({ text: `${completion.text} `, cursor: completion.text.length + 1 }));
    },
  },
  {
    id: 'palette-next',
    title: 'next suggestion',
    keys: ['down', 'ctrl-n'],
    scope: 'palette',
    run: (a) => set(a, (s) => movePaletteSelection(s, 1)),
  },
  {
    id: 'palette-previous',
    title: 'previous suggestion',
    keys: ['up', 'ctrl-p'],
    scope: 'palette',
    run: (a) => set(a, (s) => movePaletteSelection(s, -1)),
  },
  {
    id: 'palette-scroll-down',
    title: 'scroll output',
    keys: ['pagedown'],
    scope: 'palette',
    run: (a) => set(a, (s) => scrollOverlay(s, a, 1)),
  },
  {
    id: 'palette-scroll-up',
    title: 'scroll output',
    keys: ['pageup'],
    scope: 'palette',
    run: (a) => set(a, (s) => scrollOverlay(s, a, -1)),
  },
  {
    id: 'palette-sideways-right',
    title: 'scroll a wide table right',
    keys: ['ctrl-f'],
    scope: 'palette',
    run: (a) =>
      set(a, (s) =>
        s.overlay?.kind === 'palette'
          ? setOverlay(s, { ...s.overlay, hscroll: (s.overlay.hscroll ?? 0) + SIDEWAYS })
          : s,
      ),
  },
  {
    id: 'palette-sideways-left',
    title: 'scroll a wide table left',
    keys: ['ctrl-b'],
    scope: 'palette',
    run: (a) =>
      set(a, (s) =>
        s.overlay?.kind === 'palette'
          ? setOverlay(s, { ...s.overlay, hscroll: Math.max(0, (s.overlay.hscroll ?? 0) - SIDEWAYS) })
          : s,
      ),
  },
  {
    id: 'palette-close',
    title: 'close (stop a running command)',
    keys: ['escape'],
    scope: 'palette',
    hint: 2,
    run: (a, s) => {
      if (s.overlay?.kind === 'palette' && s.overlay.running) a.abortPalette();
      set(a, backOverlay);
    },
  },
  {
    id: 'palette-back',
    title: 'delete back',
    keys: ['backspace'],
    scope: 'palette',
    run: (a) => editPalette(a, deleteBack),
  },
  {
    id: 'palette-left',
    title: 'cursor left',
    keys: ['left'],
    scope: 'palette',
    run: (a) => editPalette(a, (i) => moveCursor(i, -1)),
  },
  {
    id: 'palette-right',
    title: 'cursor right',
    keys: ['right'],
    scope: 'palette',
    run: (a) => editPalette(a, (i) => moveCursor(i, 1)),
  },
  {
    id: 'palette-word',
    title: 'delete word',
    keys: ['ctrl-w'],
    scope: 'palette',
    run: (a) => editPalette(a, deleteWord),
  },
  {
    id: 'palette-clear',
    title: 'clear',
    keys: ['ctrl-u'],
    scope: 'palette',
    run: (a) => editPalette(a, () => ({ text: '', cursor: 0 })),
  },
];
