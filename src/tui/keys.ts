/**
 * Key input as the keymap takes it (made from the input events of src/tui/input/tokenizer.ts): a key by name, or
 * typed text (one name per character for commands, the whole run for a text field), or a paste (text only).
 */
export interface KeyInput {
  /** Names of special keys ('up', 'enter', 'ctrl-c', 'shift-tab', …), or one name per typed character. */
  readonly names: readonly string[];
  /** The typed text, when the input was printable characters. */
  readonly text: string | undefined;
  /** The text was pasted (bracketed paste): it is inserted into a focused text field and never runs commands. */
  readonly paste?: boolean;
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
