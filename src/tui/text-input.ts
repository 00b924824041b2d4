import type { TextInput } from './state.ts';

/** Text editing: the message input, the fork form's fields and the palette share it. */

/** Inserts typed or pasted text; `lines`: newlines are kept (the message input), else each becomes a space. */
export function insertText(input: TextInput, text: string, lines = false): TextInput {
  const joined = lines ? text.replace(/\r\n?/g, '\n') : text.replace(/\r\n|\r|\n/g, ' ');
  // eslint-disable-next-line no-control-regex -- control characters are exactly what must not reach the line
  const clean = joined.replace(/\t/g, ' ').replace(/[\u0000-\u0009\u000b-\u001f\u007f]/g, '');
  return {
    text: input.text.slice(0, input.cursor) + clean + input.text.slice(input.cursor),
    cursor: input.cursor + clean.length,
  };
}

export function deleteBack(input: TextInput): TextInput {
  if (input.cursor === 0) return input;
  return { text: input.text.slice(0, input.cursor - 1) + input.text.slice(input.cursor), cursor: input.cursor - 1 };
}

export function deleteForward(input: TextInput): TextInput {
  return { text: input.text.slice(0, input.cursor) + input.text.slice(input.cursor + 1), cursor: input.cursor };
}

export function moveCursor(input: TextInput, move: number | 'start' | 'end'): TextInput {
  const cursor =
    move === 'start'
      ? 0
      : move === 'end'
        ? input.text.length
        : Math.min(input.text.length, Math.max(0, input.cursor + move));
  return { ...input, cursor };
}

/** Deletes the word before the cursor (Ctrl-W). */
export function deleteWord(input: TextInput): TextInput {
  const before = input.text.slice(0, input.cursor).replace(/\S+\s*$/, '');
  return { text: before + input.text.slice(input.cursor), cursor: before.length };
}
