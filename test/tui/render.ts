import { EventEmitter } from 'node:events';
import { stripVTControlCharacters } from 'node:util';
import { render as inkRender, type Instance } from 'ink';
import type { ReactElement } from 'react';
import { FakeStdin } from '../helpers/fake-stdin.ts';
import { ESCAPE_TIMEOUT_MS } from '../../src/tui/input/tokenizer.ts';

/**
 * Renders an Ink tree into a fake terminal of a given size (ink-testing-library fixes 100 columns and no rows), and
 * drives it with keys. Frames are whole screens (debug mode), read without colour codes.
 */
class FakeStdout extends EventEmitter {
  columns: number;
  rows: number;
  readonly isTTY = true;
  frames: string[] = [];
  constructor(columns: number, rows: number) {
    super();
    this.columns = columns;
    this.rows = rows;
  }
  write = (frame: string): boolean => {
    this.frames.push(frame);
    return true;
  };
}

export const KEYS = {
  enter: '\r',
  escape: '\u001b',
  tab: '\t',
  shiftTab: '\u001b[Z',
  up: '\u001b[A',
  down: '\u001b[B',
  right: '\u001b[C',
  left: '\u001b[D',
  backspace: '\u007f',
  ctrlC: '\u0003',
  pageUp: '\u001b[5~',
  pageDown: '\u001b[6~',
} as const;

export interface Rendered {
  readonly stdout: FakeStdout;
  readonly instance: Instance;
  /** The last frame, without colour codes. */
  frame(): string;
  /** The last frame with its escape codes (for colour checks). */
  rawFrame(): string;
  /** Sends keys, then lets the app render. */
  press(...keys: string[]): Promise<void>;
  /** Waits until the frame satisfies the predicate (or fails with the frame). */
  waitFor(predicate: string | RegExp | ((frame: string) => boolean), timeoutMs?: number): Promise<string>;
  resize(columns: number, rows: number): Promise<void>;
  unmount(): void;
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(() => setTimeout(resolve, 5)));

export function renderSized(element: ReactElement, size: { columns: number; rows: number }): Rendered {
  const stdout = new FakeStdout(size.columns, size.rows);
  const stdin = new FakeStdin();
  const stderr = new FakeStdout(size.columns, size.rows);
  const instance = inkRender(element, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    stderr: stderr as unknown as NodeJS.WriteStream,
    debug: true,
    exitOnCtrlC: false,
    patchConsole: false,
    interactive: true,
  });
  const frame = (): string => stripVTControlCharacters(stdout.frames[stdout.frames.length - 1] ?? '');
  return {
    stdout,
    instance,
    frame,
    rawFrame: () => stdout.frames[stdout.frames.length - 1] ?? '',
    async press(...keys) {
      for (const key of keys) {
        stdin.write(key);
        await settle();
        // A lone Esc is held for a moment (it may begin a longer sequence) before it counts as the Esc key.
        if (key === KEYS.escape) await new Promise((r) => setTimeout(r, ESCAPE_TIMEOUT_MS + 20));
      }
    },
    async waitFor(predicate, timeoutMs = 5000) {
      const test =
        typeof predicate === 'function'
          ? predicate
          : (f: string) => (typeof predicate === 'string' ? f.includes(predicate) : predicate.test(f));
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (test(frame())) return frame();
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`timed out waiting for ${String(predicate)}; the screen was:\n${frame()}`);
    },
    async resize(columns, rows) {
      stdout.columns = columns;
      stdout.rows = rows;
      stdout.emit('resize');
      await settle();
    },
    unmount: () => instance.unmount(),
  };
}
