import { Box, Text, useInput, useWindowSize } from 'ink';
import { useEffect } from 'react';
import { dispatch } from '../keymap/keymap.ts';
import { useTui, useTuiContext } from '../hooks.ts';
import { normalizeKey } from '../keys.ts';
import { MIN_COLUMNS, MIN_ROWS } from '../layout.ts';
import { resize } from '../state.ts';
import { Header, NoticeArea, StatusBar, noticeLines } from './chrome.tsx';
import { OverlayView } from './overlays.tsx';
import { SessionScreen, SessionsScreen } from './screens.tsx';

/**
 * The whole screen: header, the current screen (sessions list or a session), overlays, status bar. Exactly as tall
 * as the terminal, so Ink never has to clear and redraw the whole screen.
 */
export function App() {
  const { actions } = useTuiContext();
  const size = useWindowSize();
  useEffect(() => {
    actions.store.set((s) => resize(s, size.columns, size.rows));
  }, [actions, size.columns, size.rows]);
  // One input handler for the whole app; keys are handled at once, not behind the coalescing of engine updates.
  useInput((input, key) => dispatch(actions, normalizeKey(input, key)));
  const columns = useTui((s) => s.columns);
  const rows = useTui((s) => s.rows);
  const screen = useTui((s) => s.screen);
  const overlay = useTui((s) => s.overlay !== null);
  const notice = useTui((s) => s.notice);
  if (columns < MIN_COLUMNS || rows < MIN_ROWS) {
    return (
      <Box height={rows} flexDirection="column">
        <Text>{`p2tui needs a terminal of at least ${MIN_COLUMNS}×${MIN_ROWS}; this one is ${columns}×${rows}.`}</Text>
        <Text dimColor>Make it larger, or press Ctrl-C twice to quit.</Text>
      </Box>
    );
  }
  // A notice takes the lines it needs above the status bar, so none is cut off (a quarter of the screen at most).
  const noticed = noticeLines(notice, columns, Math.max(2, Math.floor(rows / 4)));
  const body = rows - 2 - noticed.length;
  return (
    <Box flexDirection="column" width={columns} height={rows}>
      <Header width={columns} />
      <Box height={body} flexDirection="column">
        {overlay ? (
          <OverlayView width={columns} height={body} />
        ) : screen === 'sessions' ? (
          <SessionsScreen columns={columns} height={body} />
        ) : (
          <SessionScreen columns={columns} height={body - 1} />
        )}
      </Box>
      <NoticeArea width={columns} lines={noticed} />
      <StatusBar width={columns} />
    </Box>
  );
}
