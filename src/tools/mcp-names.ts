import { UserError } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import type { McpServerSettings } from './mcp-config.ts';
import type { Tool } from './define.ts';

/**
 * The name a model sees: `server__tool`, restricted to what every provider accepts (letters, digits, _ and -; at
 * most 64). A name that had to change (characters replaced, or cut) ends in `_` and 8 hex digits of the SHA-256 of
 * `server__tool`, so `a.b` and `a_b`, or two long names alike in their first 64 characters, stay apart, and each
 * keeps its name from run to run whatever else the server lists.
 */
export function mcpToolName(server: string, tool: string): string {
  const wanted = `${server}__${tool}`;
  const clean = wanted.replace(/[^A-Za-z0-9_-]/g, '_');
  if (clean === wanted && clean.length <= 64) return clean;
  return `${clean.slice(0, 64 - 9)}_${sha256(wanted).slice(0, 8)}`;
}

/** Two MCP tools under one name: the key to change is named (a renaming that collides, or the server's tools). */
export function checkNames(
  tools: readonly Tool[],
  origins: readonly McpOrigin[],
  servers: Readonly<Record<string, McpServerSettings>>,
): void {
  const seen = new Map<string, McpOrigin>();
  for (const [i, tool] of tools.entries()) {
    const origin = origins[i]!;
    const first = seen.get(tool.name);
    if (first === undefined) {
      seen.set(tool.name, origin);
      continue;
    }
    const renamed = [origin, first].find((o) => servers[o.server]?.tools[o.tool]?.as !== undefined);
    const other = renamed === first ? origin : first;
    if (renamed !== undefined) {
      const field = `mcp_servers.${renamed.server}.tools.${renamed.tool}.as`;
      throw new UserError(
        'E_TOOL_INVALID',
        `p2tui.yaml: ${field}: '${tool.name}' is already the name of tool '${other.tool}' of MCP server ${other.server}`,
        { hint: 'Choose another name.', location: { file: 'p2tui.yaml', field } },
      );
    }
    throw new UserError(
      'E_TOOL_INVALID',
      `MCP tools '${first.tool}' (server ${first.server}) and '${origin.tool}' (server ${origin.server}) both get the name '${tool.name}'`,
      {
        hint: `Rename one in p2tui.yaml: mcp_servers.${origin.server}.tools.${origin.tool}.as: <a new name>.`,
        location: { file: 'p2tui.yaml', field: `mcp_servers.${origin.server}.tools` },
      },
    );
  }
}

/** Which server and tool an MCP tool wraps (for naming conflicts). */
export interface McpOrigin {
  readonly server: string;
  readonly tool: string;
}
