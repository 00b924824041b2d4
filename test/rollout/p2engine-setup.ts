import { afterEach } from 'vitest';
import { stringify } from 'yaml';
import { runCli, type CliResult } from '../helpers/cli.ts';
import { openAIServer, type ModelServer, type RecordedRequest } from '../helpers/model-servers.ts';
import { tempWorkspace, type TempWorkspace } from '../helpers/workspace.ts';

/**
 * The workspace of the P2Engine-format tests: an agent on a real OpenAI-protocol server that records every request
 * body, the judge on the same server (as `judge-model`), two workspace tools and P2Engine's persona template.
 */

const KEY = 'sk-test-p2engine-0123456789';
const TOOLS = `import { defineTool, z } from 'p2tui';
export const weather = defineTool({ name: 'get_weather', description: 'Weather of a city.', input: z.object({ city: z.string() }), effect: 'pure', run: ({ city }) => city + ': sunny' });
export const time = defineTool({ name: 'get_time', description: 'Time in a city.', input: z.object({ city: z.string() }), effect: 'pure', run: ({ city }) => city + ': noon' });
`;

export const servers: ModelServer[] = [];
const workspaces: TempWorkspace[] = [];
afterEach(async () => {
  for (const w of workspaces.splice(0)) w.cleanup();
  for (const s of servers.splice(0)) await s.close();
});

export async function workspace(
  judge: Record<string, unknown> = {},
): Promise<{ server: ModelServer; ws: TempWorkspace }> {
  const server = await openAIServer(['test-model', 'other-model', 'judge-model']);
  servers.push(server);
  const ws = tempWorkspace({
    'p2tui.yaml': stringify({
      providers: { openai: { base_url: `${server.url}/v1`, max_retries: 0, stream: false } },
      judge: { model: 'openai/judge-model', retries: 0, ...judge },
    }),
    'tools/city.ts': TOOLS,
    // P2Engine's only persona template, as a Jinja file of templates/.
    'templates/weather_expert.j2': 'You are a weather expert. Use the get_weather tool for {{id}}.\n',
  });
  workspaces.push(ws);
  ws.persona({
    id: 'agent_alpha',
    description: 'Answers questions.',
    model: 'openai/test-model',
    tools: ['get_weather'],
  });
  return { server, ws };
}

export function p2tui(ws: TempWorkspace, ...args: string[]): Promise<CliResult> {
  return runCli(['--workspace', ws.dir, ...args], { cwd: ws.dir, env: { OPENAI_API_KEY: KEY } });
}

export const agentCalls = (server: ModelServer): RecordedRequest[] =>
  server.requests.filter((r) => r.path.endsWith('/chat/completions') && r.body['model'] !== 'judge-model');
export const systemOf = (r: RecordedRequest): string =>
  ((r.body['messages'] as { role: string; content: string }[]).find((m) => m.role === 'system')?.content ?? '').trim();
export const userOf = (r: RecordedRequest): string =>
  (r.body['messages'] as { role: string; content: string }[]).find((m) => m.role === 'user')?.content ?? '';
// The variant's tools (ask_user is p2tui's own, offered to every agent that may ask).
export const toolsOf = (r: RecordedRequest): string[] =>
  ((r.body['tools'] as { function: { name: string } }[] | undefined) ?? [])
    .map((t) => t.function.name)
    .filter((t) => t !== 'ask_user')
    .sort();
