import type { EntryDraft } from './entries.ts';
import { terminalText } from './terminal-text.ts';

/**
 * One line about an entry, for stacks and logs (the CLI's `session stack`, the TUI's stack and events panes), cleaned
 * for the terminal: it quotes model, tool and MCP text.
 */
export function describeEntry(e: EntryDraft): string {
  return terminalText(describe(e));
}

function describe(e: EntryDraft): string {
  switch (e.kind) {
    case 'user_message':
      return e.payload.text;
    case 'assistant_message':
      return e.payload.text;
    case 'tool_call':
      return `${e.payload.tool} ${JSON.stringify(e.payload.args)} [${e.payload.effect}]`;
    case 'tool_result':
      return `${e.payload.tool} ${e.payload.status}${e.payload.simulated === true ? ' (simulated)' : ''}: ${e.payload.status === 'ok' ? JSON.stringify(e.payload.output) : (e.payload.error ?? '')}`;
    case 'agent_call':
      return `→ ${e.payload.agent} (${e.payload.child}): ${e.payload.message}`;
    case 'agent_result':
      return `← ${e.payload.agent} ${e.payload.status}: ${e.payload.status === 'ok' ? e.payload.text : (e.payload.error ?? '')}`;
    case 'user_input_request':
      return `? ${e.payload.question}`;
    case 'user_response':
      return `${e.payload.text} (${e.payload.by})`;
    case 'waiting': {
      const { callIds, deadline } = e.payload;
      const until = deadline === null ? '' : ` until ${new Date(deadline).toISOString()}`;
      return `${callIds.length} call${callIds.length === 1 ? '' : 's'}${until}`;
    }
    case 'finished':
      return `${e.payload.steps} step${e.payload.steps === 1 ? '' : 's'}`;
    case 'failed':
      return `${e.payload.code}: ${e.payload.message}${e.payload.retryable ? ' (resumable)' : ''}`;
  }
}
