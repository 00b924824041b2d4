import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { App } from '../app/app.ts';
import type { Workspace } from '../app/workspace.ts';
import type { EventBus } from '../bus/bus.ts';
import type { CommandContext, Output, WorkspaceUse } from '../commands/types.ts';
import { type Clock, systemClock } from '../core/clock.ts';
import { UserError } from '../core/errors.ts';
import { VERSION } from '../core/version.ts';
import { databaseLine } from './database-line.ts';
import type { WalletService } from '../ledger/wallets/service.ts';
import type { SessionReading, StoreReader } from '../store/reader.ts';
import type { Store } from '../store/store.ts';
import type { LiveExport } from '../telemetry/live.ts';

/**
 * What a command of the CLI works with: the workspace, the database, the bus, the app and the wallets, each made on
 * first use (a read command never loads the personas; `--version` loads none of it) and closed on the way out.
 */
export class CliContext implements CommandContext {
  readonly output: Output;
  readonly workspaceDir: string;
  readonly dbPath: string | undefined;
  readonly debug: boolean;
  readonly signal: AbortSignal;
  readonly clock = systemClock;
  private workspaceLoad: Promise<Workspace> | undefined;
  private openStore: Store | undefined;
  /** The read side alone (sessionReading), when no Store was opened. */
  private openReader: StoreReader | undefined;
  private openBus: EventBus | undefined;
  private openApp: App | undefined;
  private openWallets: WalletService | undefined;
  private live: LiveExport | undefined;

  constructor(options: {
    output: Output;
    workspaceDir: string;
    dbPath: string | undefined;
    debug: boolean;
    signal: AbortSignal;
  }) {
    this.output = options.output;
    this.workspaceDir = options.workspaceDir;
    this.dbPath = options.dbPath;
    this.debug = options.debug;
    this.signal = options.signal;
  }

  /** The database this command opened, if it opened one (an error from it is then named with its path). */
  get databasePath(): string | undefined {
    return this.openStore?.path ?? this.openReader?.path;
  }

  workspace(options: WorkspaceUse = {}): Promise<Workspace> {
    this.workspaceLoad ??= (async () => {
      const { loadWorkspace, mcpReplay } = await import('../app/workspace.ts');
      // A replay builds MCP tools from the recorded session's listings: read before any server would be reached.
      const replay = options.replay === undefined ? undefined : mcpReplay(await this.store(), options.replay);
      const workspace = await loadWorkspace(this.workspaceDir, {
        ...(this.dbPath === undefined ? {} : { db: this.dbPath }),
        ...(replay === undefined ? {} : { mcpReplay: replay }),
      });
      // The broken files do not stop this command; say once which agents they took away.
      const broken = workspace.brokenPersonas;
      if (broken.length > 0)
        this.output.warn(
          `warning: ${broken.length} broken persona file${broken.length === 1 ? '' : 's'} not loaded ` +
            `(${broken.map((b) => `${b.file}: agent ${b.id}`).join(', ')}); see: p2tui agents list`,
        );
      return workspace;
    })();
    return this.workspaceLoad;
  }

  /** The database file: --db, else the workspace's; with `existing`, one that is not there yet is no sessions. */
  private async databaseFile(options: { existing?: boolean }): Promise<string> {
    const path = this.dbPath ?? (await defaultDbPath(this.workspaceDir));
    if (options.existing === true && !existsSync(path)) {
      throw new UserError('E_UNKNOWN_SESSION', `there is no database at ${path} yet, so no sessions`, {
        hint: `Start one with: p2tui run <agent> "<message>"${this.dbPath === undefined ? '' : ', or check --db'}.`,
      });
    }
    return path;
  }

  async store(options: { existing?: boolean } = {}): Promise<Store> {
    if (this.openStore === undefined) {
      const path = await this.databaseFile(options);
      const { Store } = await import('../store/store.ts');
      this.openStore ??= new Store({ path, appVersion: VERSION });
    }
    return this.openStore;
  }

  async sessionReading(options: { existing?: boolean } = {}): Promise<SessionReading> {
    if (this.openStore !== undefined) return this.openStore;
    if (this.openReader === undefined) {
      const path = await this.databaseFile(options);
      const { StoreReader } = await import('../store/reader.ts');
      this.openReader ??= new StoreReader({ path, appVersion: VERSION });
    }
    return this.openReader;
  }

  async bus(options: { existing?: boolean } = {}): Promise<EventBus> {
    if (this.openBus === undefined) {
      const store = await this.store(options);
      const { EventBus } = await import('../bus/bus.ts');
      this.openBus ??= this.openApp?.bus ?? new EventBus(store);
    }
    return this.openBus;
  }

  async app(options: WorkspaceUse = {}): Promise<App> {
    if (this.openApp === undefined) {
      const workspace = await this.workspace(options);
      const [{ App }, { Store }] = await Promise.all([import('../app/app.ts'), import('../store/store.ts')]);
      this.openStore ??= new Store({ path: this.dbPath ?? workspace.dbPath, appVersion: VERSION });
      const store = this.openStore;
      this.openApp ??= new App({
        workspace,
        store,
        appVersion: VERSION,
        ...(this.openBus === undefined ? {} : { bus: this.openBus }),
      });
      this.live = await startLiveExport(store, workspace.config.otel, (text) => this.output.warn(text), this.clock);
    }
    return this.openApp;
  }

  async wallets(): Promise<WalletService> {
    if (this.openApp !== undefined) return this.openApp.wallets;
    if (this.openWallets === undefined) {
      const [workspace, store, { openWallets }] = await Promise.all([
        this.workspace(),
        this.store(),
        import('../ledger/wallets/open.ts'),
      ]);
      this.openWallets ??= openWallets(store, workspace.config.ledger);
    }
    return this.openWallets;
  }

  /** Closes what was opened: the app, the database, the workspace's MCP connections (stdio servers are processes). */
  async close(): Promise<void> {
    // `run` and `rollout run` (every command that drove a session) flush the live export before the app closes.
    const live = this.live;
    this.live = undefined;
    if (live !== undefined) {
      await live.flush();
      live.stop();
    }
    this.openApp?.close();
    this.openStore?.close();
    this.openReader?.close();
    await this.workspaceLoad?.then((w) => w.close()).catch(() => undefined);
  }
}

/**
 * One rule for every command: the workspace folder (--workspace, else $P2TUI_WORKSPACE, else the current folder)
 * must be a folder that exists, or the command stops before doing anything (E_WORKSPACE, exit 3, naming the path and
 * where it came from). Some commands read only the database and once ran on a mistyped folder while others refused
 * it. `init` is the exception (it is given `allowMissing`): it creates the folder.
 */
export function checkWorkspaceDir(
  dir: string,
  source: '--workspace' | 'P2TUI_WORKSPACE' | 'cwd',
  allowMissing = false,
): void {
  const stat = statSync(dir, { throwIfNoEntry: false });
  const from = source === 'cwd' ? 'the current folder' : source;
  if (stat === undefined) {
    if (allowMissing) return;
    throw new UserError('E_WORKSPACE', `workspace folder ${dir} (${from}) does not exist`, {
      hint: `Check the path, or create a workspace there with: p2tui init ${dir}`,
    });
  }
  if (!stat.isDirectory())
    throw new UserError('E_WORKSPACE', `workspace ${dir} (${from}) is a file, not a folder`, {
      hint: 'Give the folder that holds p2tui.yaml and personas/ (--workspace <dir>).',
    });
}

/**
 * The database path a workspace uses, read without loading personas and tools (so a broken persona does not hide
 * the sessions).
 */
async function defaultDbPath(workspaceDir: string): Promise<string> {
  const quick = quickDbPath(workspaceDir);
  if (quick !== undefined) return quick;
  try {
    const { readWorkspaceConfig } = await import('../app/config.ts');
    const database = readWorkspaceConfig(workspaceDir).config.database;
    return isAbsolute(database) ? database : join(workspaceDir, database);
  } catch {
    return join(workspaceDir, '.p2tui', 'p2tui.db');
  }
}

/** The database path from p2tui.yaml's `database:` line when it can be read so (src/cli/database-line.ts). */
function quickDbPath(workspaceDir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(workspaceDir, 'p2tui.yaml'), 'utf8');
  } catch (error) {
    // No p2tui.yaml: the default. Any other failure to read it is the full reader's to report or pass over.
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? join(workspaceDir, DEFAULT_DATABASE) : undefined;
  }
  const database = databaseLine(text);
  if (database === undefined) return undefined;
  const path = database ?? DEFAULT_DATABASE;
  return isAbsolute(path) ? path : join(workspaceDir, path);
}

/** The config's default `database` (src/app/config.ts), not imported from there: that module loads the schema. */
const DEFAULT_DATABASE = '.p2tui/p2tui.db';

/**
 * With a collector configured (OTEL_EXPORTER_OTLP_* or p2tui.yaml's `otel`), the sessions this process drives are
 * exported live (a command's, the TUI's); nothing of OpenTelemetry loads otherwise.
 */
export async function startLiveExport(
  store: Store,
  config: Workspace['config']['otel'],
  notice: (text: string) => void,
  clock: Clock,
): Promise<LiveExport | undefined> {
  const env = process.env;
  const configured =
    config?.endpoint !== undefined ||
    [env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'], env['OTEL_EXPORTER_OTLP_ENDPOINT']].some(
      (v) => v !== undefined && v.trim() !== '',
    );
  if (!configured) return undefined;
  const { LiveExport, liveSettings } = await import('../telemetry/live.ts');
  let settings;
  try {
    settings = liveSettings(env, config);
  } catch (error) {
    // A shell's OTEL_* set up for another program (a gRPC protocol, say) does not stop a run: it says so, once.
    notice(`notice: no live OpenTelemetry export: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  if (settings === undefined) return undefined;
  const live = new LiveExport(store, settings, notice, clock);
  live.start();
  return live;
}
