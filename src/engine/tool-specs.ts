import type { Persona } from '../agents/persona.ts';
import type { ToolSpec } from '../models/provider.ts';
import type { ToolPort } from './ports.ts';

/**
 * The tools a persona's model sees: its own, plus the built-in `delegate` (when it has agents to delegate to) and
 * `ask_user` (unless its policy turns questions off). The delegate tool lists each agent with its description and
 * tools, which is what a model (or the simulator) routes work by.
 */
export function toolSpecsFor(persona: Persona, personas: ReadonlyMap<string, Persona>, tools: ToolPort): ToolSpec[] {
  const specs: ToolSpec[] = persona.tools.map((name) => {
    const tool = tools.require(name);
    return { name: tool.name, description: tool.description, parameters: tool.parameters };
  });
  if (persona.agents.length > 0) specs.push(delegateSpec(persona, personas));
  if (persona.policies.ask_user) specs.push(ASK_USER_SPEC);
  return specs;
}

function delegateSpec(persona: Persona, personas: ReadonlyMap<string, Persona>): ToolSpec {
  const lines = persona.agents.map((id) => {
    const target = personas.get(id);
    const tools = target === undefined || target.tools.length === 0 ? '' : ` (tools: ${target.tools.join(', ')})`;
    return `${id}: ${target?.description ?? ''}${tools}`;
  });
  return {
    name: 'delegate',
    description:
      'Hand a task to another agent and wait for its answer. Several delegate calls in one response run in parallel. ' +
      'The agent sees only your message, so make it self-contained.',
    parameters: {
      type: 'object',
      properties: {
        agent: { type: 'string', enum: [...persona.agents], description: lines.join('\n') },
        message: { type: 'string', description: 'The task for the agent.' },
      },
      required: ['agent', 'message'],
      additionalProperties: false,
    },
  };
}

const ASK_USER_SPEC: ToolSpec = {
  name: 'ask_user',
  description: 'Ask the user a question and wait for the answer. Use it only for information the user alone has.',
  parameters: {
    type: 'object',
    properties: { question: { type: 'string', description: 'The question, in one sentence.' } },
    required: ['question'],
    additionalProperties: false,
  },
};
