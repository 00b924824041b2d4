import { UserError, suggest } from '../core/errors.ts';
import type { Tool } from './define.ts';

/** Names the engine handles itself: a model calls them like tools, but they change the FSM, not the world. */
export const BUILTIN_TOOL_NAMES = ['delegate', 'ask_user'] as const;

/** The tools a workspace offers, by name. */
export class ToolRegistry {
  private readonly tools = new Map<string, Tool>();

  add(tool: Tool): void {
    if ((BUILTIN_TOOL_NAMES as readonly string[]).includes(tool.name)) {
      throw new UserError(
        'E_TOOL_INVALID',
        `${tool.source ?? 'a tool'} defines '${tool.name}', a name p2tui reserves for its built-in tool`,
        {
          hint: 'Rename the tool.',
          ...(tool.source === undefined ? {} : { location: { file: tool.source } }),
        },
      );
    }
    const existing = this.tools.get(tool.name);
    if (existing !== undefined) {
      throw new UserError(
        'E_TOOL_INVALID',
        `tool '${tool.name}' is defined twice: in ${existing.source ?? '(built in)'} and in ${tool.source ?? '(built in)'}`,
        {
          hint: 'Give one of them another name.',
          ...(tool.source === undefined ? {} : { location: { file: tool.source } }),
        },
      );
    }
    this.tools.set(tool.name, tool);
  }

  get(name: string): Tool | undefined {
    return this.tools.get(name);
  }

  require(name: string): Tool {
    const tool = this.tools.get(name);
    if (tool === undefined) {
      const near = suggest(name, this.tools.keys());
      throw new UserError('E_UNKNOWN_TOOL', `unknown tool '${name}'`, {
        hint: near === undefined ? `Known tools: ${this.names().join(', ') || '(none)'}.` : `Did you mean ${near}?`,
      });
    }
    return tool;
  }

  names(): string[] {
    return [...this.tools.keys()].sort();
  }

  all(): Tool[] {
    return this.names().map((n) => this.tools.get(n)!);
  }
}
