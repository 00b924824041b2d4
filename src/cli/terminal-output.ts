import { createInterface, type Interface } from 'node:readline';
import type { Output } from '../commands/types.ts';

/**
 * The CLI's Output: stdout for results, stderr for warnings and errors, and line input from stdin (a prompt at a
 * terminal, plain lines from a pipe). `interactive` is true only at a terminal: a run without one never waits for
 * a person.
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
    process.stdout.write(`${text}\n`);
  }

  write(text: string): void {
    process.stdout.write(text);
  }

  warn(text: string): void {
    process.stderr.write(`${text}\n`);
  }

  onInterrupt(handler: () => void): void {
    this.interruptHandler = handler;
  }

  ask(prompt: string): Promise<string | undefined> {
    this.open();
    // The lines before the prompt say what is asked; a transcript of piped input shows them too.
    if (!this.ended || this.queued.length > 0)
      for (const line of prompt.split('\n').slice(0, -1)) process.stdout.write(`${line}\n`);
    const queued = this.queued.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.ended) return Promise.resolve(undefined);
    if (this.interactive && this.rl !== undefined) {
      this.rl.setPrompt(prompt.split('\n').pop() ?? '');
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
