import type { Key } from 'ink';

/**
 * Key input, normalized. Ink hands over a string and flags; several characters typed quickly (or sent by a script)
 * can arrive as one string, so command keys are split into one name per character, while a text field takes the
 * string whole (a paste stays one insertion).
 */
export interface KeyInput {
  /** Names of special keys ('up', 'enter', 'ctrl-c', 'shift-tab', …), or one name per typed character. */
  readonly names: readonly string[];
  /** The typed text, when the input was printable characters. */
  readonly text: string | undefined;
  /** The text was pasted (bracketed paste): it is inserted into a focused text field and never runs commands. */
  readonly paste?: boolean;
}

export function normalizeKey(input: string, key: Key): KeyInput {
  const special = specialName(input, key);
  if (special !== undefined) return { names: [special], text: undefined };
  if (input === '') return { names: [], text: undefined };
  if (key.meta) return { names: [...input].map((ch) => `alt-${ch}`), text: undefined };
  return { names: [...input], text: input };
}

function specialName(input: string, key: Key): string | undefined {
  if (key.upArrow) return 'up';
  if (key.downArrow) return 'down';
  if (key.leftArrow) return 'left';
  if (key.rightArrow) return 'right';
  if (key.pageUp) return 'pageup';
  if (key.pageDown) return 'pagedown';
  if (key.home) return 'home';
  if (key.end) return 'end';
  if (key.return) return 'enter';
  if (key.escape) return 'escape';
  if (key.tab) return key.shift ? 'shift-tab' : 'tab';
  if (key.backspace) return 'backspace';
  if (key.delete) return 'delete';
  if (key.ctrl && input.length === 1) return `ctrl-${input.toLowerCase()}`;
  return undefined;
}

/** How a key name is shown in hints and help. */
export function keyLabel(name: string): string {
  const labels: Record<string, string> = {
    up: '↑',
    down: '↓',
    left: '←',
    right: '→',
    pageup: 'PgUp',
    pagedown: 'PgDn',
    enter: 'Enter',
    escape: 'Esc',
    tab: 'Tab',
    'shift-tab': 'S-Tab',
    backspace: 'Bksp',
    home: 'Home',
    end: 'End',
  };
  if (labels[name] !== undefined) return labels[name];
  if (name.startsWith('ctrl-')) return `C-${name.slice(5)}`;
  return name;
}
