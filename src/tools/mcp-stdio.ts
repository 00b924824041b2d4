import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { systemClock } from '../core/clock.ts';
import { deserializeMessage, serializeMessage } from '@modelcontextprotocol/sdk/shared/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';

/** Why a connection to an MCP server ended. */
export type ConnectionEnd =
  /** One message from the server (a result, a page of tools/list, …) passed max_result_bytes: p2tui cut it off. */
  | { readonly kind: 'too large'; readonly limit: number }
  /** A stdio server exited (or was killed) on its own. */
  | { readonly kind: 'exited'; readonly code: number | null; readonly signal: NodeJS.Signals | null }
  /** p2tui closed it (the workspace closed). */
  | { readonly kind: 'closed' };

export interface StdioServerLaunch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly cwd: string;
}

/**
 * The MCP stdio client transport, with a cap on the size of one message from the server. The SDK's own transport
 * buffers a message up to 10 MB, copying the buffer on every chunk (a 50 MB result cost 500 MB), and then closes
 * the connection for good with "Connection closed". Here bytes are counted on stdout as they arrive and a message
 * is kept as a list of chunks: past `maxMessageBytes` the server is killed at once (SIGKILL: a server flooding
 * stdout is not trusted to stop on a polite signal), nothing more is read, and `ended` says why, so the caller can
 * name the limit and start the server again for the next call.
 */
export class CappedStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  /** The server's stderr (p2tui keeps the last lines, to explain a failed start). */
  readonly stderr = new PassThrough();
  private child: ChildProcessWithoutNullStreams | undefined;
  private chunks: Buffer[] = [];
  private bytes = 0;
  private end: ConnectionEnd | undefined;

  private readonly launch: StdioServerLaunch;
  private readonly maxMessageBytes: number;

  constructor(launch: StdioServerLaunch, maxMessageBytes: number) {
    this.launch = launch;
    this.maxMessageBytes = maxMessageBytes;
  }

  /** Why the connection ended, once it has (undefined while it is open). */
  get ended(): ConnectionEnd | undefined {
    return this.end;
  }

  start(): Promise<void> {
    if (this.child !== undefined) throw new Error('this MCP stdio transport is already started');
    return new Promise((resolve, reject) => {
      const child = spawn(this.launch.command, [...this.launch.args], {
        env: { ...this.launch.env },
        cwd: this.launch.cwd,
        stdio: ['pipe', 'pipe', 'pipe'],
        shell: false,
      });
      this.child = child;
      child.on('error', (error) => {
        reject(error);
        this.onerror?.(error);
      });
      child.on('spawn', () => resolve());
      child.on('close', (code, signal) => {
        this.end ??= { kind: 'exited', code, signal };
        this.child = undefined;
        this.chunks = [];
        this.onclose?.();
      });
      child.stdin.on('error', (error) => this.onerror?.(error));
      child.stdout.on('error', (error) => this.onerror?.(error));
      child.stdout.on('data', (chunk: Buffer) => this.read(chunk));
      child.stderr.pipe(this.stderr);
    });
  }

  /** Splits stdout into lines (one JSON-RPC message each), counting the bytes of the line being read. */
  private read(chunk: Buffer): void {
    if (this.end !== undefined) return;
    let from = 0;
    while (from < chunk.length) {
      const newline = chunk.indexOf(0x0a, from);
      const to = newline === -1 ? chunk.length : newline;
      this.bytes += to - from;
      if (this.bytes > this.maxMessageBytes) {
        this.tooLarge();
        return;
      }
      if (to > from) this.chunks.push(chunk.subarray(from, to));
      if (newline === -1) return;
      from = newline + 1;
      const line = Buffer.concat(this.chunks).toString('utf8').replace(/\r$/, '');
      this.chunks = [];
      this.bytes = 0;
      if (line.trim() === '') continue;
      let message: JSONRPCMessage;
      try {
        message = deserializeMessage(line);
      } catch (error) {
        this.onerror?.(error instanceof Error ? error : new Error(String(error)));
        continue;
      }
      this.onmessage?.(message);
    }
  }

  private tooLarge(): void {
    this.end = { kind: 'too large', limit: this.maxMessageBytes };
    this.chunks = [];
    const child = this.child;
    if (child === undefined) return;
    // Stop reading at once (what is still in the pipe is dropped), then the process. All three pipes are destroyed so
    // that 'close' follows its exit even if a process it started (npx starts node) still holds them.
    child.stdout.destroy();
    child.stderr.destroy();
    child.stdin.destroy();
    child.kill('SIGKILL');
  }

  async close(): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    this.end ??= { kind: 'closed' };
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    // Real time, as for any external process coming up or going down (the README's list).
    const within = (ms: number): Promise<void> =>
      Promise.race([closed, new Promise<void>((resolve) => systemClock.timeout(resolve, ms))]);
    // As the SDK does: end its stdin (a server exits when its input ends), then SIGTERM, then SIGKILL.
    child.stdin.end();
    await within(2000);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await within(2000);
    }
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }

  send(message: JSONRPCMessage): Promise<void> {
    const stdin = this.child?.stdin;
    if (stdin === undefined || this.end !== undefined) return Promise.reject(new Error('Not connected'));
    return new Promise((resolve) => {
      if (stdin.write(serializeMessage(message))) resolve();
      else stdin.once('drain', resolve);
    });
  }
}
