import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { childEnv } from './child-env.ts';

/** The CLI's entry, run from source (Node strips the types). */
export const MAIN = join(new URL('../..', import.meta.url).pathname, 'src/cli/main.ts');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `p2tui <args>` as a real process without blocking this one (the model and MCP servers a test starts run
 * here), and resolves with its exit code and output once it ends.
 */
export function runCli(
  args: readonly string[],
  options: { cwd?: string; env?: Record<string, string>; uid?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], {
      ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
      // Another user (root starts it with that uid and gid), as a user who does not own the files would run it.
      ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
      env: childEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
