import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll } from 'vitest';
import { createServer, type AddressInfo } from 'node:net';

/**
 * Some tests need what only a prepared host has: a `redis-server`, `chattr +i` (a file even root cannot write), a
 * tmpfs mount (a disk that fills up). On a developer's machine without them those tests skip and say why; `.ci/run`
 * installs them and sets P2TUI_TESTS_REQUIRE_HOST=1, so in CI a missing one fails instead of skipping silently.
 */
export const HOST_REQUIRED = process.env['P2TUI_TESTS_REQUIRE_HOST'] === '1';

/** Skips with `why`, or fails when the host is required to have it. */
export function unavailable(skip: (why: string) => void, why: string): void {
  if (HOST_REQUIRED) throw new Error(`${why} (P2TUI_TESTS_REQUIRE_HOST=1: .ci/run installs what these tests need)`);
  skip(why);
}

/** Whether a redis-server is on PATH; with the host required, its tests run (and fail) without one. */
export const haveRedis = HOST_REQUIRED || spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;

/** A loopback port nothing listens on (at the moment of asking). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const free = (server.address() as AddressInfo).port;
      server.close(() => resolve(free));
    });
  });
}

export interface RedisServer {
  readonly url: string;
  stop(): void;
}

/** A throwaway `redis-server` on a free loopback port, with nothing saved to disk; resolves once it answers PING. */
export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const redis = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const stop = (): void => void redis.kill('SIGKILL');
  for (let i = 0; i < 100; i++) {
    if (spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' }).stdout?.trim() === 'PONG')
      return { url: `redis://127.0.0.1:${port}`, stop };
    await new Promise((r) => setTimeout(r, 50));
  }
  stop();
  throw new Error('redis-server did not start');
}

/** The redis-server of one test file, and the processes its tests start (killed when the file's tests end). */
export interface RedisSuite {
  /** The server's URL, set once it answers (empty without redis-server). */
  readonly url: string;
  readonly children: ChildProcess[];
}

/** Starts a throwaway redis-server before the file's tests and stops it, and every child they pushed, after them. */
export function redisForSuite(): RedisSuite {
  const suite = { url: '', children: [] as ChildProcess[] };
  let server: RedisServer | undefined;
  beforeAll(async () => {
    if (!haveRedis) return;
    server = await startRedis();
    suite.url = server.url;
  });
  afterAll(() => {
    for (const c of suite.children) c.kill('SIGKILL');
    server?.stop();
  });
  return suite;
}
