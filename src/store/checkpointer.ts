import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Checkpoints the WAL from a worker thread, so the thread that runs the agents never waits for it.
 *
 * In WAL mode a checkpoint copies the log's pages back into the database file and syncs both files. SQLite's
 * automatic checkpoint does that inside the COMMIT that crosses its threshold: one commit in ~20 took 40–50 ms on
 * a slow disk, stalling every step in flight. A PASSIVE checkpoint on a second connection takes no lock a writer
 * needs, so the writer goes on appending while the worker copies. The main connection keeps a much higher
 * automatic threshold as a backstop, so the WAL stays bounded if the worker falls behind or cannot start.
 */
export class WalCheckpointer {
  private readonly dbPath: string;
  private readonly walPath: string;
  private readonly thresholdBytes: number;
  private worker: Worker | undefined;
  private busy = false;
  private failed = false;

  constructor(dbPath: string, options: { thresholdBytes?: number } = {}) {
    this.dbPath = dbPath;
    this.walPath = `${dbPath}-wal`;
    this.thresholdBytes = options.thresholdBytes ?? 4 * 2 ** 20;
  }

  /** Called after commits: starts a checkpoint in the background once the WAL has grown past the threshold. */
  poke(): void {
    if (this.busy || this.failed) return;
    let size: number;
    try {
      size = statSync(this.walPath).size;
    } catch {
      return; // no WAL yet (or it was just removed by a close elsewhere)
    }
    // The WAL file never shrinks, so once it has reached the threshold every poke (every 8 commits) checkpoints
    // whatever is new. Measured: frequent small PASSIVE checkpoints keep the WAL short enough to restart, while
    // checkpointing only on growth past the file's size let it grow to the 64 MB backstop under load (+18–20% on
    // the latency run), and truncating it on restart (journal_size_limit) made every commit extend the file (+2%).
    if (size < this.thresholdBytes) return;
    const worker = this.start();
    if (worker === undefined) return;
    this.busy = true;
    worker.postMessage('checkpoint');
  }

  /** Stops the worker; the main connection's close does the final checkpoint. */
  close(): void {
    const worker = this.worker;
    this.worker = undefined;
    this.failed = true;
    if (worker !== undefined) void worker.terminate();
  }

  private start(): Worker | undefined {
    if (this.worker !== undefined) return this.worker;
    try {
      const worker = new Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { module: createRequire(import.meta.url).resolve('better-sqlite3'), path: this.dbPath },
      });
      worker.unref();
      worker.on('message', () => (this.busy = false));
      // The backstop threshold on the main connection still bounds the WAL: losing the worker loses no data.
      worker.on('error', () => this.close());
      worker.on('exit', () => {
        if (this.worker === worker) this.close();
      });
      this.worker = worker;
      return worker;
    } catch {
      this.failed = true;
      return undefined;
    }
  }
}

// CommonJS, evaluated in the worker. busy_timeout 0: a PASSIVE checkpoint never waits; one that meets a lock
// (another process checkpointing) simply tries again at the next poke.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
parentPort.on('message', () => {
  let result = null;
  try { result = db.pragma('wal_checkpoint(PASSIVE)')[0] ?? null; } catch (error) { result = { error: String(error) }; }
  parentPort.postMessage(result);
});
`;
