import { afterEach, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../../helpers/cli.ts';
import { tempWorkspace, type TempWorkspace } from '../../helpers/workspace.ts';

let ws: TempWorkspace | undefined;
const p2tui = (...args: string[]): Promise<CliResult> => runCli(args, { cwd: ws!.dir });
afterEach(() => ws?.cleanup());

describe('effects in p2tui.yaml', () => {
  it('is stored with every new session (live by default); a bad value is a config error naming the field', async () => {
    ws = tempWorkspace();
    ws.persona({ id: 'a', description: 'A.', script: [{ when: '.', steps: [{ reply: 'hi' }] }] });
    const options = async (): Promise<unknown> => {
      const run = await p2tui('run', 'a', 'hello', '--json');
      expect(run.code, run.stderr).toBe(0);
      const show = await p2tui('session', 'show', 'last', '--json');
      return (JSON.parse(show.stdout) as { options: { effects?: string } }).options.effects;
    };
    expect(await options()).toBe('live');
    ws.write('p2tui.yaml', 'effects: dry-run\n');
    expect(await options()).toBe('dry-run');
    ws.write('p2tui.yaml', 'effects: maybe\n');
    const bad = await p2tui('run', 'a', 'hello');
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('E_CONFIG');
    expect(bad.stderr).toContain('effects: Invalid option: expected one of "live"|"dry-run"|"ask"');
  }, 20_000);
});
