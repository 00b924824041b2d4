import { Redis } from 'ioredis';
import { UserError, messageOf } from '../../core/errors.ts';

/**
 * Distributed rollouts through BullMQ on Redis. The coordinator puts cells on a queue named after its workspace's
 * hash; `p2tui worker` processes of the same workspace run them on an in-memory store and return each cell's bundle
 * (its session's events, artifacts and scores, and the cell's ledger operations). The coordinator alone writes the
 * SQLite store: it ingests each cell once and applies the cell's payments itself, idempotently by their references,
 * so a cell retried after a worker died never pays twice.
 */

export function queueName(hash: string): string {
  return `p2tui-cells-${hash}`;
}

/** ioredis options from `redis://[:password@]host[:port][/db]`. */
export function connectionOf(url: string): {
  host: string;
  port: number;
  password?: string;
  db?: number;
  maxRetriesPerRequest: null;
} {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UserError('E_USAGE', `--queue '${url}' is not a URL`, {
      hint: 'Give it as redis://host:port, e.g. redis://127.0.0.1:6379',
    });
  }
  if (parsed.protocol !== 'redis:')
    throw new UserError('E_USAGE', `--queue '${url}' is not a redis:// URL`, { hint: 'Give it as redis://host:port' });
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : undefined;
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    ...(parsed.password === '' ? {} : { password: decodeURIComponent(parsed.password) }),
    ...(db === undefined || Number.isNaN(db) ? {} : { db }),
    // BullMQ's workers block on Redis: commands must wait for a reconnect rather than fail.
    maxRetriesPerRequest: null,
  };
}

/**
 * One PING, no retries: an unreachable Redis is said at once and plainly (BullMQ's clients would retry for ever and
 * print every failed attempt).
 */
export async function probe(url: string): Promise<void> {
  const client = new Redis({
    ...connectionOf(url),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 5_000,
    enableOfflineQueue: false,
  });
  let cause: Error | undefined;
  client.on('error', (error: Error) => (cause ??= error));
  try {
    await client.connect();
    await client.ping();
  } catch (error) {
    // The socket's own error (ECONNREFUSED, a DNS failure) says more than the client's "connection is closed".
    throw new UserError('E_QUEUE', `cannot reach Redis at ${url}: ${messageOf(cause ?? error)}`, {
      hint: 'Start Redis (redis-server), or check the --queue URL.',
    });
  } finally {
    client.disconnect();
  }
}
