import { useStdin } from 'ink';
import type { Timer } from '../../core/clock.ts';
import { useEffect } from 'react';
import type { KeyInput } from '../keys.ts';
import { dispatch } from '../keymap/keymap.ts';
import type { TuiActions } from '../keymap/model.ts';
import { handleMouse } from './mouse.ts';
import { ESCAPE_TIMEOUT_MS, InputTokenizer, type InputEvent } from './tokenizer.ts';

/** One input event as the keymap takes it: keys by name, typed text as text, a paste as text that runs no command. */
export function toKeyInput(event: Exclude<InputEvent, { kind: 'mouse' }>): KeyInput {
  if (event.kind === 'key') return { names: [event.name], text: undefined };
  if (event.kind === 'paste') return { names: [], text: event.text, paste: true };
  return { names: [...event.text], text: event.text };
}

/** Hands every event of a chunk to the keymap, in order. */
export function dispatchEvents(a: TuiActions, events: readonly InputEvent[]): void {
  for (const event of events) {
    if (event.kind === 'mouse') handleMouse(a, event, (name) => dispatch(a, { names: [name], text: undefined }));
    else dispatch(a, toKeyInput(event));
  }
}

/**
 * Reads the terminal's input itself (not through Ink's useInput, which hands over a burst as one string and drops
 * mouse reports): each chunk is split into events in order (see tokenizer.ts) and dispatched one by one.
 */
export function useTerminalInput(actions: TuiActions): void {
  const { stdin } = useStdin();
  useEffect(() => {
    const tokenizer = new InputTokenizer();
    let timer: Timer | undefined;
    const onData = (chunk: string | Buffer): void => {
      timer?.cancel();
      timer = undefined;
      dispatchEvents(actions, tokenizer.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8')));
      // A lone Esc: the Esc key, unless the rest of a sequence follows at once.
      if (tokenizer.waiting)
        timer = actions.clock.timeout(() => dispatchEvents(actions, tokenizer.flush()), ESCAPE_TIMEOUT_MS);
    };
    const stream = stdin as NodeJS.ReadStream;
    stream.setEncoding?.('utf8');
    stream.on('data', onData);
    stream.resume?.();
    return () => {
      timer?.cancel();
      stream.off('data', onData);
      stream.pause?.();
    };
  }, [actions, stdin]);
}
