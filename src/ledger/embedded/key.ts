import { createHash, createHmac, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { UserError } from '../../core/errors.ts';

/**
 * The key of the audit chain's MACs, kept outside the database: `P2TUI_LEDGER_KEY` when set, else a 0600 file beside
 * the database (`.p2tui/p2tui.ledger-key` for the workspace's). Whoever can rewrite the database but not read the key
 * cannot make an altered chain verify again.
 */
export interface LedgerKey {
  readonly secret: Buffer;
  /** Where it comes from, as `ledger audit` says it: the variable, the file, or this process's memory. */
  readonly source: string;
  /** A short public id of the key (which key a ledger was sealed with), not the key. */
  readonly id: string;
}

export const KEY_ENV = 'P2TUI_LEDGER_KEY';

/** The key file of a database: beside it, named after it (two databases in one folder have their own keys). */
export function keyFileOf(dbPath: string): string {
  return join(dirname(dbPath), `${basename(dbPath, extname(dbPath))}.ledger-key`);
}

function keyOf(secret: Buffer, source: string): LedgerKey {
  return { secret, source, id: createHmac('sha256', secret).update('p2tui-ledger/key-id').digest('hex').slice(0, 16) };
}

/** Keys of in-memory databases (a worker's): one per process, never written anywhere. */
const memoryKey = keyOf(randomBytes(32), 'memory (an in-memory database)');

/** The key in force for a database, or undefined when there is none yet (or it was lost). */
export function findKey(dbPath: string, env: NodeJS.ProcessEnv = process.env): LedgerKey | undefined {
  const fromEnv = env[KEY_ENV];
  if (fromEnv !== undefined && fromEnv !== '')
    return keyOf(createHash('sha256').update(`p2tui-ledger/key\n${fromEnv}`).digest(), KEY_ENV);
  if (dbPath === ':memory:') return memoryKey;
  const file = keyFileOf(dbPath);
  if (!existsSync(file)) return undefined;
  // Readable by others (copied, restored from a backup): tightened before it is used.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const text = readFileSync(file, 'utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(text))
    throw new UserError('E_LEDGER_CHAIN', `${file} is not a ledger key (64 hex digits)`, {
      hint: 'Restore it from a backup, or re-key the ledger: p2tui ledger rekey',
    });
  return keyOf(Buffer.from(text, 'hex'), file);
}

/** A key just made, and how to take it back when the write it was made for fails. */
export interface NewKey {
  readonly key: LedgerKey;
  /**
   * Removes the new key file and puts the previous one back: the database refused the transaction that was to seal
   * the ledger under it (a full disk, say), so the next attempt must find things as they were and make it again.
   */
  undo(): void;
}

/**
 * A new key for a database, written 0600 beside it (an old file is kept as `.old-<time>`); with P2TUI_LEDGER_KEY
 * set, that key is the one in force and nothing is written.
 */
export function createKey(dbPath: string, now: number, env: NodeJS.ProcessEnv = process.env): NewKey {
  const fromEnv = env[KEY_ENV];
  if ((fromEnv !== undefined && fromEnv !== '') || dbPath === ':memory:')
    return { key: findKey(dbPath, env)!, undo: () => undefined };
  const file = keyFileOf(dbPath);
  const old = existsSync(file) ? `${file}.old-${now}` : undefined;
  if (old !== undefined) renameSync(file, old);
  const secret = randomBytes(32);
  try {
    writeFileSync(file, `${secret.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    throw new UserError('E_LEDGER_CHAIN', `cannot write the ledger key ${file}: ${(error as Error).message}`, {
      hint: `Make the folder writable, or set ${KEY_ENV}.`,
    });
  }
  const undo = (): void => {
    try {
      rmSync(file, { force: true });
      if (old !== undefined) renameSync(old, file);
    } catch {
      // Best effort: the database's own error is the one to report.
    }
  };
  return { key: keyOf(secret, file), undo };
}

/**
 * Each key's secret as a KeyObject, made once: an HMAC keyed with a raw Buffer re-imports the secret every call, which
 * was most of the cost of the two MACs (update and seal) every write computes. Same bytes, same MACs.
 */
const keyObjects = new WeakMap<LedgerKey, KeyObject>();

export function mac(key: LedgerKey, text: string): string {
  let secret = keyObjects.get(key);
  if (secret === undefined) {
    secret = createSecretKey(key.secret);
    keyObjects.set(key, secret);
  }
  return createHmac('sha256', secret).update(text).digest('hex');
}
