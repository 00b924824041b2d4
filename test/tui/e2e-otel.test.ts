import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Receiver, startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import { cleanupTuis, requireBuild, startBetaSession, startTui } from '../helpers/pty.ts';

/** The TUI drives sessions too: with a collector configured, it exports them live and flushes when it quits. */
afterEach(cleanupTuis);
let receiver: Receiver;
beforeAll(async () => {
  requireBuild();
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver.close());

describe('live export from the TUI', () => {
  it('a session driven in the TUI reaches the collector by the time the TUI has quit', async () => {
    const tui = startTui(100, 30, [], { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
    await startBetaSession(tui, 'Calculate 6 * 7');
    await tui.waitFor((s) => s.includes('6 * 7 = 42.') && s.includes('session finished'));
    await tui.press('q');
    await tui.waitFor(/SESSION\s+STATUS\s+AGENT/);
    await tui.press('q');
    expect(await tui.exit).toBe(0);
    const names = receiver.spans().map((s) => s.name);
    expect(names).toContain('invoke_agent agent_beta');
    expect(names).toContain('execute_tool calculate');
    expect(names.filter((n) => n === 'invoke_agent agent_beta')).toHaveLength(1);
  });
});
