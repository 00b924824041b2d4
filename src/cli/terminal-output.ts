import { createInterface, type Interface } from 'node:readline';
import type { Output } from '../commands/types.ts';
import { forTerminal, jsonForTerminal } from '../core/terminal-text.ts';

/**
 * The CLI's Output: stdout for results, stderr for warnings and errors, and line input from stdin (a prompt at a
 * terminal, plain lines from a pipe). `interactive` is true only at a terminal: a run without one never waits for
 * a person.
 *
 * Everything written passes `forTerminal` (core/terminal-text.ts): only p2tui's own colour codes (when colour is
 * on) reach the terminal as escape codes; any other control character, from model, tool or MCP text a renderer
 * quoted, is shown as a visible stand-in. The renderers clean what they quote as well (so such text cannot colour
 * itself); this is the guard for a spot that forgot. With --json, stdout carries JSON: there such characters are
 * written as their JSON escapes instead, so the value a parser reads is exactly the stored one.
 */
export class TerminalOutput implements Output {
  readonly json: boolean;
  readonly color: boolean;
  readonly interactive: boolean;
  private rl: Interface | undefined;
  private readonly queued: string[] = [];
  private waiting: ((line: string | undefined) => void) | undefined;
  private ended = false;
  private interruptHandler: (() => void) | undefined;

  constructor(options: { json: boolean; color: boolean }) {
    this.json = options.json;
    this.color = options.color;
    this.interactive = process.stdin.isTTY === true;
    // `p2tui events export | head`: a reader that stops early is not an error.
    process.stdout.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(0);
      throw error;
    });
  }

  line(text = ''): void {
    process.stdout.write(`${this.shown(text)}\n`);
  }

  write(text: string): void {
    process.stdout.write(this.shown(text));
  }

  redraw(text: string): void {
    // The one place p2tui moves the cursor itself: back to the line's start, and erase what the last one left.
    process.stdout.write(`\r${forTerminal(text, this.color)}\u001b[K`);
  }

  bytes(data: Uint8Array): void {
    // Asked for by name (--raw): the one write that is not cleaned.
    process.stdout.write(data);
  }

  warn(text: string): void {
    process.stderr.write(`${forTerminal(text, this.color)}\n`);
  }

  private shown(text: string): string {
    return this.json ? jsonForTerminal(text) : forTerminal(text, this.color);
  }

  onInterrupt(handler: () => void): void {
    this.interruptHandler = handler;
  }

  ask(prompt: string): Promise<string | undefined> {
    this.open();
    // The lines before the prompt say what is asked; a transcript of piped input shows them too.
    const lines = forTerminal(prompt, this.color).split('\n');
    if (!this.ended || this.queued.length > 0) for (const line of lines.slice(0, -1)) process.stdout.write(`${line}\n`);
    const queued = this.queued.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
    if (this.interactive && this.rl !== undefined) {
      this.rl.setPrompt(lines.pop() ?? '');
      this.rl.prompt();
    }
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }

  close(): void {
    this.rl?.close();
  }

  private open(): void {
    if (this.rl !== undefined) return;
    this.rl = createInterface({
      input: process.stdin,
      ...(this.interactive ? { output: process.stdout } : {}),
      terminal: this.interactive,
    });
    this.rl.on('line', (line) => {
      const resolve = this.waiting;
      this.waiting = undefined;
      if (resolve !== undefined) resolve(line);
      else this.queued.push(line);
    });
    this.rl.on('close', () => {
      this.ended = true;
      const resolve = this.waiting;
      this.waiting = undefined;
      resolve?.(undefined);
    });
    this.rl.on('SIGINT', () => this.interruptHandler?.());
  }
}
