import { keyLabel, type KeyInput } from '../keys.ts';
import { insertText } from '../text-input.ts';
import { type TuiState } from '../state.ts';
import { CHROME_KEYS } from './chrome-keys.ts';
import { COMPARE_KEYS } from './compare-keys.ts';
import { HINTS } from './hints.ts';
import { editForm, editInput, editPalette } from './helpers.ts';
import { SCOPE_TITLES, type Scope, type TuiActions, type TuiCommand } from './model.ts';
import { OVERLAY_KEYS } from './overlay-keys.ts';
import { SESSION_KEYS } from './session-keys.ts';
import { READING_KEYS, typeSearch } from './reading-keys.ts';

/** Text-entry scopes take typed characters that no command claims. */
const TEXT_SCOPES: readonly Scope[] = ['input', 'palette', 'fork-form', 'search'];

/**
 * The TUI's keymap. Every key binding, status-bar hint, line of the `?` help and entry of the `:` palette comes from
 * this one list, so they cannot disagree.
 */
// Reading keys first: while a search is shown, n/N and Esc belong to it.
export const COMMANDS: readonly TuiCommand[] = [
  ...READING_KEYS,
  ...SESSION_KEYS,
  ...OVERLAY_KEYS,
  ...COMPARE_KEYS,
  ...CHROME_KEYS,
];

/** The scopes whose commands apply now, most specific first. */
export function activeScopes(s: TuiState): Scope[] {
  // A search being typed takes the keys (Enter ends it, Esc cancels it).
  if (s.search?.editing === true) return ['search'];
  // Over an overlay, help, the palette and the notices open too (Esc comes back); a text field takes typed keys.
  if (s.overlay !== null) return TEXT_SCOPES.includes(s.overlay.kind) ? [s.overlay.kind] : [s.overlay.kind, 'global'];
  if (s.screen === 'sessions') return ['sessions', 'global'];
  if (s.focus === 'input' || (s.open === null && s.newSessionAgent !== null)) return ['input', 'global'];
  const scopes: Scope[] = [s.focus];
  if (s.focus !== 'frames') scopes.push('scroll');
  scopes.push('session', 'global');
  return scopes;
}

/** Handles one key input: each key name goes to the first command of the active scopes that binds it. */
export function dispatch(a: TuiActions, input: KeyInput): void {
  const state = a.store.get();
  const scopes = activeScopes(state);
  const texting = TEXT_SCOPES.includes(scopes[0]!);
  if (state.notice !== null && state.quitArmedAt === null) a.store.set((s) => ({ ...s, notice: null }));
  if (texting && input.text !== undefined) {
    // A text field takes what is typed (a paste stays one insertion); special keys still run commands. The message
    // input keeps a pasted text's newlines (Enter sends; a pasted newline does not).
    if (scopes[0] === 'palette') editPalette(a, (i) => insertText(i, input.text!));
    else if (scopes[0] === 'fork-form') editForm(a, (i) => insertText(i, input.text!));
    else if (scopes[0] === 'search') typeSearch(a, input.text!);
    else editInput(a, (i) => insertText(i, input.text!, input.paste === true));
    return;
  }
  // A paste is text, never commands: outside a text field it does nothing.
  if (input.paste === true) return;
  for (const name of input.names) {
    const current = a.store.get();
    // Ctrl-C arms or quits from anywhere, even inside an overlay or the input.
    const layers = name === 'ctrl-c' ? (['global'] as Scope[]) : activeScopes(current);
    const command = COMMANDS.find(
      (c) => layers.includes(c.scope) && c.keys.includes(name) && (c.when?.(current) ?? true),
    );
    if (command !== undefined) {
      if (name !== 'ctrl-c' && current.quitArmedAt !== null)
        a.store.set((s) => ({ ...s, quitArmedAt: null, notice: null }));
      command.run(a, current);
    }
  }
}

/** A command's place in the status bar (lower first), or undefined when it is not shown there. */
const hintOf = (c: TuiCommand): number | undefined => HINTS[c.id]?.hint ?? c.hint;

/**
 * The key hints the status bar shows now, most useful first: the focused place's own keys before the session's,
 * the session's before the ones that work everywhere (the order within a place comes from keymap/hints.ts).
 */
export function hints(s: TuiState): string[] {
  const scopes = activeScopes(s);
  const seen = new Set<string>();
  return COMMANDS.filter((c) => hintOf(c) !== undefined && scopes.includes(c.scope) && (c.when?.(s) ?? true))
    .sort((x, y) => rank(x, scopes) - rank(y, scopes))
    .filter((c) => !seen.has(c.keys[0]!) && seen.add(c.keys[0]!))
    .map((c) => `${keyLabel(c.keys[0]!)} ${HINTS[c.id]?.short ?? c.short ?? c.title}`);
}

/** Sorts by priority; the global keys (help, notices, palette) and leaving (90+, Esc back) come last whatever the place. */
function rank(c: TuiCommand, scopes: readonly Scope[]): number {
  const hint = hintOf(c)!;
  return c.scope === 'global' || hint >= 80 ? 1000 + hint : hint * 10 + scopes.indexOf(c.scope);
}

/** Help: every command, grouped by where it applies, the current places first. */
export function helpSections(s: TuiState): { title: string; rows: { keys: string; title: string }[] }[] {
  const scopes = activeScopes(
    s.overlay?.kind === 'help' ? { ...s, overlay: s.overlayBack.at(-1) ?? null, search: null } : s,
  );
  const order = [...scopes, ...(Object.keys(SCOPE_TITLES) as Scope[]).filter((x) => !scopes.includes(x))];
  return order
    .map((scope) => ({
      title: SCOPE_TITLES[scope],
      rows: COMMANDS.filter((c) => c.scope === scope).map((c) => ({
        keys: c.keys.map(keyLabel).join(' '),
        title: c.title,
      })),
    }))
    .filter((section) => section.rows.length > 0);
}
