import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

/**
 * The tools of the test MCP servers (the stdio one in test/fixtures/mcp-stdio-server.ts registers the same): real
 * servers built with @modelcontextprotocol/sdk, so p2tui's client is tested against the SDK's own server side.
 */
export function registerTestTools(server: McpServer, label: string): void {
  server.registerTool(
    'add',
    {
      description: `Adds two numbers (${label}).`,
      inputSchema: { a: z.number(), b: z.number() },
      annotations: { readOnlyHint: true },
    },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
  );
  server.registerTool('fail', { description: 'Always fails.', inputSchema: { why: z.string() } }, async ({ why }) => ({
    content: [{ type: 'text', text: `refused: ${why}` }],
    isError: true,
  }));
  server.registerTool(
    'slow',
    { description: 'Answers after ms milliseconds.', inputSchema: { ms: z.number() } },
    async ({ ms }) => {
      await new Promise((resolve) => setTimeout(resolve, ms));
      return { content: [{ type: 'text', text: `slept ${ms}` }] };
    },
  );
  server.registerTool(
    'secret',
    { description: 'Returns MCP_TEST_VALUE from its environment.', inputSchema: {} },
    async () => ({
      content: [{ type: 'text', text: process.env['MCP_TEST_VALUE'] ?? '(unset)' }],
    }),
  );
}

/**
 * A streamable HTTP MCP server on a free port (stateless: a server and transport per request). `requests()`: how
 * many HTTP requests it has received so far (any method, any path). `tools` registers more tools; `events` answers
 * with event streams instead of JSON bodies.
 */
export async function mcpHttpServer(
  options: { tools?: (server: McpServer) => void; events?: boolean } = {},
): Promise<{ url: string; requests(): number; close(): Promise<void> }> {
  let requests = 0;
  const http: Server = createServer((req, res) => {
    requests++;
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      const server = new McpServer({ name: 'p2tui-test-http', version: '1.0.0' });
      registerTestTools(server, 'http');
      options.tools?.(server);
      const transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: undefined,
        enableJsonResponse: options.events !== true,
      });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      void server
        .connect(transport)
        .then(() => transport.handleRequest(req, res, raw === '' ? undefined : JSON.parse(raw)));
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    requests: () => requests,
    close: () =>
      new Promise((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      }),
  };
}
