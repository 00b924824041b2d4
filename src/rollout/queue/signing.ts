import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../core/errors.ts';
import { canonicalJson } from '../../core/json.ts';

/**
 * The queue's shared secret. Redis is not a trust boundary (anyone who can reach it can add jobs and return results),
 * so every job, result and effect-journal entry is signed with HMAC-SHA256 over what it is for (its kind, job id,
 * rollout, cell and attempt) and its canonical JSON body: a valid result cannot be replayed for another cell or
 * attempt. The key lives in `<state folder>/queue.key` (mode 0600), written by the first `rollout run --queue`;
 * `queue.key.previous` is still accepted for verifying, so a key can be rotated while work is in flight.
 */
export const KEY_FILE = 'queue.key';
export const PREVIOUS_SUFFIX = '.previous';
/** The environment variable a worker reads its key from when no --queue-key is given. */
export const SECRET_ENV = 'P2TUI_QUEUE_SECRET';
const MIN_KEY_CHARS = 32;

export interface QueueKeys {
  /** Signs what this process sends. */
  readonly signing: Buffer;
  /** Accepted when verifying: the signing key, then the previous one (rotation). */
  readonly verifying: readonly Buffer[];
  /** Where the key came from (said in messages, never the key itself). */
  readonly source: string;
}

/** What a signature binds: the same body signed for another cell, attempt or kind of message does not verify. */
export interface SignedFor {
  readonly kind: 'job' | 'result' | 'effect';
  readonly job: string;
  readonly rollout: string;
  readonly cell: string;
  readonly attempt: number;
}

function keyText(text: string, where: string): Buffer {
  const key = text.trim();
  if (key.length < MIN_KEY_CHARS)
    throw new UserError('E_CONFIG', `the queue key in ${where} is too short (${key.length} characters, at least 32)`, {
      hint: `Use the coordinator's ${KEY_FILE} as it is (64 hex characters).`,
    });
  return Buffer.from(key, 'utf8');
}

function readKeyFile(file: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError('E_CONFIG', `cannot read the queue key ${file}: ${(error as Error).message}`, {
      hint: `Copy the coordinator's ${KEY_FILE} there (mode 0600).`,
    });
  }
  return keyText(text, file);
}

function withPrevious(file: string, signing: Buffer): Buffer[] {
  const previous = `${file}${PREVIOUS_SUFFIX}`;
  return existsSync(previous) ? [signing, readKeyFile(previous)] : [signing];
}

/** The coordinator's keys, from `<stateDir>/queue.key`, written (32 random bytes, mode 0600) when missing. */
export function coordinatorKeys(stateDir: string): QueueKeys {
  const file = join(stateDir, KEY_FILE);
  if (!existsSync(file)) {
    try {
      // 'wx': two coordinators starting at once do not overwrite each other's key.
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new UserError('E_CONFIG', `cannot write the queue key ${file}: ${(error as Error).message}`, {
          hint: 'rollout run --queue keeps its key in the state folder; make it writable.',
        });
    }
  }
  // Readable by others (copied, restored from a backup): tightened before it is trusted.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const signing = readKeyFile(file);
  return { signing, verifying: withPrevious(file, signing), source: file };
}

/**
 * A worker's keys: `--queue-key <file>`, else P2TUI_QUEUE_SECRET, else `<stateDir>/queue.key`. Without any, the
 * worker refuses to start: it could neither check its jobs nor sign its results.
 */
export function workerKeys(options: { file?: string; secret?: string; stateDir: string }): QueueKeys {
  if (options.file !== undefined) {
    const signing = readKeyFile(options.file);
    return { signing, verifying: withPrevious(options.file, signing), source: options.file };
  }
  if (options.secret !== undefined && options.secret !== '') {
    const signing = keyText(options.secret, SECRET_ENV);
    return { signing, verifying: [signing], source: SECRET_ENV };
  }
  const file = join(options.stateDir, KEY_FILE);
  if (existsSync(file)) {
    const signing = readKeyFile(file);
    return { signing, verifying: withPrevious(file, signing), source: file };
  }
  throw new UserError(
    'E_CONFIG',
    `p2tui worker has no queue key: give --queue-key <file>, set ${SECRET_ENV}, or put the coordinator's ${KEY_FILE} at ${file}`,
    {
      hint: `The coordinator writes <state folder>/${KEY_FILE} on its first rollout run --queue; copy it to the worker (mode 0600).`,
    },
  );
}

function mac(key: Buffer, what: SignedFor, body: unknown): Buffer {
  return createHmac('sha256', key)
    .update(canonicalJson({ ...what, body }))
    .digest();
}

/** The signature (hex) of `body` for `what`, with the signing key. */
export function sign(keys: QueueKeys, what: SignedFor, body: unknown): string {
  return mac(keys.signing, what, body).toString('hex');
}

/** Whether `signature` is `body`'s for `what` under one of the accepted keys (compared in constant time). */
export function verify(keys: QueueKeys, what: SignedFor, body: unknown, signature: unknown): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/.test(signature)) return false;
  const given = Buffer.from(signature, 'hex');
  let ok = false;
  for (const key of keys.verifying) if (timingSafeEqual(mac(key, what, body), given)) ok = true;
  return ok;
}
