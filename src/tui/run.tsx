import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { format } from 'node:util';
import { render, type Instance } from 'ink';
import type { ReactElement } from 'react';
import type { App } from '../app/app.ts';
import type { TuiActions } from './keymap/model.ts';
import { TuiBridge } from './bridge/bridge.ts';
import { TuiContext } from './hooks.ts';
import { runPaletteLine } from './palette.ts';
import { initialState, setOverlay } from './state.ts';
import { TuiStore } from './store.ts';
import { App as AppView } from './views/App.tsx';
import { terminalText } from '../core/terminal-text.ts';

/** Bracketed paste (a paste arrives marked, as text) and SGR mouse reports (clicks and the wheel). */
const PASTE_ON = '\u001b[?2004h';
const MOUSE_ON = '\u001b[?1000h\u001b[?1006h';
/** Turns mouse reports and bracketed paste off. */
const MODES_OFF = '\u001b[?1006l\u001b[?1000l\u001b[?2004l';
/** The modes off, the cursor shown, the alternate screen left: the terminal as it was (after a crash). */
const RESTORE_TERMINAL = `${MODES_OFF}\u001b[?25h\u001b[?1049l`;

export interface TuiOptions {
  readonly app: App;
  readonly color: boolean;
  /** Report clicks and the wheel (off: `--no-mouse`, the terminal keeps selecting text). */
  readonly mouse?: boolean;
  /** Where console output and errors go while the TUI owns the screen. */
  readonly logFile: string;
  readonly stdin?: NodeJS.ReadStream;
  readonly stdout?: NodeJS.WriteStream;
  /** Open on this rollout's grid (`rollout start --rerun`, once the rollout finished). */
  readonly rollout?: string;
}

/**
 * Runs the full-screen TUI until the user quits. The terminal is restored on quit, on Ctrl-C, on SIGTERM and on a
 * crash; nothing but Ink writes to stdout meanwhile (console output goes to the log file).
 */
export interface TuiApp {
  readonly store: TuiStore;
  readonly bridge: TuiBridge;
  readonly actions: TuiActions;
  /** The React tree to render. */
  readonly element: ReactElement;
  dispose(): void;
}

/** Builds the TUI's store, bridge and actions around an app: what runTui renders, and what tests render. */
export function createTuiApp(
  app: App,
  options: {
    columns: number;
    rows: number;
    color: boolean;
    quit: () => void;
    /** Writes to the terminal outside Ink's frame (the OSC 52 clipboard sequence of y). */
    writeTerminal?: (data: string) => void;
  },
): TuiApp {
  const store = new TuiStore(
    initialState(
      {
        root: app.workspace.root,
        model: app.workspace.config.model,
        agents: [...app.workspace.personas.values()].map((p) => ({
          id: p.id,
          description: p.description,
          model: p.model,
        })),
      },
      { columns: options.columns, rows: options.rows },
    ),
  );
  const bridge = new TuiBridge(app, store);
  let palette: AbortController | undefined;
  const actions: TuiActions = {
    store,
    bridge,
    geometry: new Map(),
    clock: app.clock,
    quit: options.quit,
    runPalette: (line) => {
      palette?.abort();
      const controller = new AbortController();
      palette = controller;
      store.set((s) =>
        s.overlay?.kind === 'palette'
          ? setOverlay(s, { ...s.overlay, text: line, cursor: line.length, running: true, output: [], scroll: 0 })
          : s,
      );
      const append = (text: string): void =>
        store.set(
          (s) =>
            s.overlay?.kind === 'palette' && palette === controller
              ? setOverlay(s, { ...s.overlay, output: [...s.overlay.output, text] })
              : s,
          true,
        );
      void runPaletteLine(line, app, controller.signal, append).then((code) => {
        append(code === 0 ? '' : `(exit code ${code})`);
        store.set((s) =>
          s.overlay?.kind === 'palette' && palette === controller ? setOverlay(s, { ...s.overlay, running: false }) : s,
        );
        bridge.refreshSessions();
      });
    },
    abortPalette: () => palette?.abort(),
    ...(options.writeTerminal === undefined ? {} : { writeTerminal: options.writeTerminal }),
  };
  const element = (
    <TuiContext.Provider value={{ actions, color: options.color }}>
      <AppView />
    </TuiContext.Provider>
  );
  return {
    store,
    bridge,
    actions,
    element,
    dispose: () => {
      palette?.abort();
      bridge.dispose();
      store.dispose();
    },
  };
}

/**
 * Runs the full-screen TUI until the user quits. The terminal is restored on quit, on Ctrl-C, on SIGTERM and on a
 * crash; nothing but Ink writes to stdout meanwhile (console output goes to the log file).
 */
export async function runTui(options: TuiOptions): Promise<number> {
  const stdout = options.stdout ?? process.stdout;
  const log = (...args: unknown[]): void => {
    try {
      mkdirSync(dirname(options.logFile), { recursive: true });
      appendFileSync(options.logFile, `${new Date().toISOString()} ${format(...args)}\n`);
    } catch {
      // Logging must never take the screen down.
    }
  };
  const restoreConsole = redirectConsole(log);
  let instance: Instance | undefined;
  const quit = (): void => instance?.unmount();
  const tui = createTuiApp(options.app, {
    columns: stdout.columns ?? 80,
    rows: stdout.rows ?? 24,
    color: options.color,
    quit,
    // OSC 52 prints nothing and moves no cursor: written between Ink's frames, it leaves the screen as it was.
    writeTerminal: (data) => void stdout.write(data),
  });
  const crash = (error: unknown): void => {
    log('crash:', error);
    try {
      instance?.unmount();
    } catch {
      // Restore below either way.
    }
    stdout.write(RESTORE_TERMINAL);
    process.stderr.write(
      // The message may quote model or tool text: shown, not obeyed, on the terminal just restored.
      `p2tui crashed: ${terminalText(error instanceof Error ? (error.stack ?? error.message) : String(error))}\nThe log is in ${options.logFile}.\n`,
    );
    process.exit(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  process.on('SIGTERM', quit);
  process.on('SIGHUP', quit);
  process.on('SIGINT', quit);
  const stdin = options.stdin ?? process.stdin;
  // Raw mode from the start: Ink turns it on only once its first frame is drawn, and a Ctrl-C typed in between would
  // reach the terminal driver as SIGINT and quit at once instead of asking for a second press.
  if (stdin.isTTY) stdin.setRawMode(true);
  try {
    // Before the first frame, so no paste or click made once the screen shows arrives unmarked.
    stdout.write(PASTE_ON + (options.mouse === false ? '' : MOUSE_ON));
    instance = render(tui.element, {
      stdout,
      stdin,
      alternateScreen: true,
      incrementalRendering: true,
      // Keys, Ctrl-C included, go through our own command registry.
      exitOnCtrlC: false,
      patchConsole: false,
      // A user with CI set in their shell still gets a live screen in a real terminal.
      interactive: true,
      // Engine updates reach React at most ~30 times a second (the store coalesces them); this cap is for the
      // rest, so a key pressed just after an engine frame waits at most 16 ms, not 33.
      maxFps: 60,
    });
    tui.bridge.start();
    if (options.rollout !== undefined) tui.bridge.grid.openGrid(options.rollout);
    await instance.waitUntilExit();
  } finally {
    // Ink leaves the alternate screen and shows the cursor itself; the input modes are ours to turn off.
    stdout.write(MODES_OFF);
    if (stdin.isTTY) stdin.setRawMode(false);
    tui.dispose();
    process.off('uncaughtException', crash);
    process.off('unhandledRejection', crash);
    process.off('SIGTERM', quit);
    process.off('SIGHUP', quit);
    process.off('SIGINT', quit);
    restoreConsole();
  }
  return 0;
}

function redirectConsole(log: (...args: unknown[]) => void): () => void {
  const saved = {
    log: console.log,
    info: console.info,
    warn: console.warn,
    error: console.error,
    debug: console.debug,
  };
  console.log = console.info = console.warn = console.error = console.debug = log;
  return () => Object.assign(console, saved);
}
