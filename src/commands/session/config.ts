import { resolveBehaviorTemplate } from '../../agents/templates.ts';
import { UserError, suggest } from '../../core/errors.ts';
import { terminalText } from '../../core/terminal-text.ts';
import type { BranchOverrides, OverrideField, PersonaOverride } from '../../engine/branching.ts';
import type { BranchRow } from '../../store/sessions.ts';
import { defineCommand, type OptionDefs } from '../define.ts';
import { parseOverrides, targetsOf } from '../overrides.ts';
import { paint, table } from '../render/text.ts';
import { SESSION_ARG } from '../shared.ts';
import { EXIT, type Command, type CommandContext, type CommandResult } from '../types.ts';

/**
 * P2Engine's `config set-tools|set-behavior|show-overrides <conversation>`. P2Engine wrote a per-agent override that
 * the next step read; in p2tui a branch's overrides are fixed when it is forked (a recorded session must replay as it
 * ran), so the two setters fork the checked-out branch at its newest entry with the override and check the new branch
 * out, and say so. show-overrides reads the overrides of the checked-out branch and of the branches it descends from.
 */

const AGENT_OPTION = {
  agent: { type: 'string', value: '<agent>', description: 'Only for this agent (default: every agent)' },
  label: { type: 'string', value: '<text>', description: 'A name for the new branch' },
} as const satisfies OptionDefs;

/**
 * A behaviour as P2Engine's set-behavior took it: the name of a template in the workspace's `templates/` folder, or
 * (when it contains whitespace, so it cannot be a name) the prompt itself — the same lookup as a spec's
 * `behavior_template`. A name that finds nothing is a usage error (the value was typed on this command line).
 */
export function resolveBehavior(workspaceDir: string, value: string): { text: string; template?: string } {
  const found = resolveBehaviorTemplate(workspaceDir, value);
  if ('error' in found)
    throw new UserError('E_USAGE', found.error, { hint: 'Name a template of templates/, or give the prompt as text.' });
  return found.file === undefined ? { text: found.text } : { text: found.text, template: found.file };
}

/** `none` cleared an override in P2Engine; a fork cannot take one away from the branch it is forked from. */
function refuseNone(value: string, what: string, session: string): void {
  if (value.trim().toLowerCase() !== 'none') return;
  throw new UserError('E_USAGE', `'none' cannot clear ${what}: overrides are fixed at a fork`, {
    hint: `Check out a branch without it instead: p2tui session branches ${session}, then p2tui session checkout ${session} <branch>`,
  });
}

/** Forks the checked-out branch at its newest entry with `value` for one agent (or every agent), and checks it out. */
async function forkWith(
  ctx: CommandContext,
  ref: string,
  field: 'tools' | 'system',
  value: string,
  options: { agent: string | undefined; label: string | undefined },
  said: string,
): Promise<CommandResult> {
  const app = await ctx.app();
  const { engine } = app;
  const session = engine.store.sessions.resolve(ref);
  const targets = targetsOf(engine);
  const { agent } = options;
  if (agent !== undefined && !targets.agents.includes(agent)) {
    const near = suggest(agent, targets.agents);
    throw new UserError('E_UNKNOWN_AGENT', `--agent ${agent}: unknown agent`, {
      hint: `${near === undefined ? '' : `Did you mean '${near}'? `}Agents in this workspace: ${targets.agents.join(', ') || '(none)'}.`,
    });
  }
  // `<agent>=` (or `*=`) always: a prompt that starts with `word=` is then never read as an agent's.
  const values: Record<OverrideField, string[]> = { model: [], temperature: [], system: [], tools: [] };
  values[field] = [`${agent ?? '*'}=${value}`];
  const overrides: BranchOverrides = parseOverrides(values, targets);
  const made = await engine.fork(session.id, {
    // The user's --label must be free; the generated one is numbered when taken (config set-tools (2)).
    ...(options.label === undefined
      ? { defaultLabel: `config ${field === 'tools' ? 'set-tools' : 'set-behavior'}` }
      : { label: options.label }),
    overrides,
    createdBy: 'cli:config',
    checkout: true,
  });
  const json = {
    session: session.id,
    branch: made.branch.id,
    parent: made.branch.parent,
    forkSeq: made.branch.forkSeq,
    checkedOut: true,
    overrides: { ...overrides } as Record<string, unknown>,
  };
  if (!ctx.output.json) {
    ctx.output.line(
      `forked ${made.branch.id} at seq ${made.branch.forkSeq} with ${said} for ${agent ?? 'every agent'} and checked it out ` +
        `(from ${made.branch.parent}; overrides are fixed at a fork, so this is a new branch)`,
    );
    ctx.output.line(paint(ctx.output.color, 'gray', `continue it with: p2tui chat resume ${session.id}`));
  }
  return { exitCode: EXIT.ok, json: json as CommandResult['json'] };
}

export const configSetToolsCommand = defineCommand({
  path: ['config', 'set-tools'],
  summary: "Give agents another tool list from the session's newest entry on (forks there and checks the branch out)",
  details:
    "P2Engine's config set-tools. A branch's overrides are fixed when it is forked, so this forks the checked-out " +
    'branch at its newest entry with the tool list and checks the new branch out (the old branch stays). ' +
    'The same as: p2tui session fork <session> --tools [<agent>=]<a,b> --checkout',
  args: {
    session: SESSION_ARG,
    tools: { description: 'The tools, comma-separated', required: true },
  },
  options: AGENT_OPTION,
  examples: ['p2tui config set-tools last search,save --agent writer', 'p2tui config set-tools s_1a2b check_balance'],
  async run(ctx, input) {
    refuseNone(input.args.tools, 'the tools', input.args.session);
    const tools = input.args.tools
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
    return forkWith(ctx, input.args.session, 'tools', input.args.tools, input.options, `tools ${tools.join(',')}`);
  },
});

export const configSetBehaviorCommand = defineCommand({
  path: ['config', 'set-behavior'],
  summary:
    "Give agents another system prompt from the session's newest entry on (forks there and checks the branch out)",
  details:
    "P2Engine's config set-behavior. The behaviour is a template name, read from templates/<name>.md, .txt or .j2 of " +
    'the workspace, or the prompt itself when it contains a space. A branch’s overrides are fixed when it is forked, ' +
    'so this forks the checked-out branch at its newest entry with that system prompt and checks the new branch out. ' +
    'The same as: p2tui session fork <session> --system [<agent>=]<prompt> --checkout',
  args: {
    session: SESSION_ARG,
    behavior: { description: 'A template name (templates/<name>.md|.txt|.j2) or the prompt text', required: true },
  },
  options: AGENT_OPTION,
  examples: [
    'p2tui config set-behavior last weather_expert --agent agent_alpha',
    'p2tui config set-behavior last "You are terse. Answer in one line."',
  ],
  async run(ctx, input) {
    refuseNone(input.args.behavior, 'the behaviour', input.args.session);
    const behavior = resolveBehavior(ctx.workspaceDir, input.args.behavior);
    const said =
      behavior.template === undefined
        ? `the system prompt "${terminalText(behavior.text.length > 40 ? `${behavior.text.slice(0, 40)}…` : behavior.text)}"`
        : `the system prompt of ${behavior.template}`;
    return forkWith(ctx, input.args.session, 'system', behavior.text, input.options, said);
  },
});

/** One setting's value as a listing shows it (a prompt cut short: it can be long and is an agent's text). */
function shown(field: keyof PersonaOverride, value: unknown): string {
  if (field === 'tools' && Array.isArray(value)) return value.join(',');
  if (field === 'system') {
    const text = terminalText(String(value)).replace(/\s+/g, ' ');
    return `"${text.length > 60 ? `${text.slice(0, 60)}…` : text}"`;
  }
  return String(value);
}

/** Per agent (`*`: every agent) and setting, the value a branch's overrides give. */
function settingsOf(overrides: BranchOverrides): Map<string, Partial<Record<keyof PersonaOverride, unknown>>> {
  const rows = new Map<string, Partial<Record<keyof PersonaOverride, unknown>>>();
  const top = Object.fromEntries(
    (['model', 'temperature', 'system', 'tools'] as const).flatMap((f) =>
      overrides[f] === undefined ? [] : [[f, overrides[f]]],
    ),
  );
  if (Object.keys(top).length > 0) rows.set('*', top);
  for (const [agent, o] of Object.entries(overrides.personas ?? {})) rows.set(agent, { ...o });
  return rows;
}

export const configShowOverridesCommand = defineCommand({
  path: ['config', 'show-overrides'],
  summary: 'The overrides in effect on the checked-out branch of a session, per agent, and the branch that set each',
  details:
    "P2Engine's config show-overrides. Lists, per agent (* for every agent), the model, temperature, system prompt and " +
    'tools the checked-out branch runs with instead of the persona’s, and which branch (the checked-out one or one it ' +
    'descends from) set each.',
  args: {
    session: SESSION_ARG,
  },
  examples: ['p2tui config show-overrides last'],
  async run(ctx, input) {
    const store = await ctx.store({ existing: true });
    const session = store.sessions.resolve(input.args.session);
    // The checked-out branch, then each branch it was forked from.
    const chain: BranchRow[] = [];
    for (let id: string | null = session.headBranch; id !== null;) {
      const branch = store.sessions.branch(id);
      if (branch === undefined) break;
      chain.push(branch);
      id = branch.parent;
    }
    const head = chain[0]!;
    const settings = settingsOf(head.overrides as BranchOverrides);
    const rows: { agent: string; setting: string; value: unknown; setOn: string }[] = [];
    for (const [agent, values] of settings) {
      for (const [setting, value] of Object.entries(values)) {
        // Set on the oldest branch of the chain, counting up from the checked-out one, that still has this value.
        let setOn = head;
        for (const b of chain.slice(1)) {
          const v = settingsOf(b.overrides as BranchOverrides).get(agent)?.[setting as keyof PersonaOverride];
          if (JSON.stringify(v) !== JSON.stringify(value)) break;
          setOn = b;
        }
        rows.push({ agent, setting, value, setOn: setOn.id });
      }
    }
    const effects = head.overrides['effects'];
    const json = {
      session: session.id,
      branch: head.id,
      overrides: rows.map((r) => ({ ...r, value: r.value as string | number | string[] })),
      ...(typeof effects === 'string' ? { effects } : {}),
      branches: chain.map((b) => ({ id: b.id, label: b.label, parent: b.parent })),
    };
    if (ctx.output.json) return { exitCode: EXIT.ok, json };
    const out = ctx.output;
    const name = (b: BranchRow): string => (b.label === null ? b.id : `${b.id} (${terminalText(b.label)})`);
    out.line(
      `${session.id}: checked out ${name(head)}${chain.length > 1 ? `, forked from ${chain.slice(1).map(name).join(' ← ')}` : ''}`,
    );
    if (rows.length === 0) out.line("no overrides: every agent runs with its persona's settings");
    else
      for (const line of table(
        rows.map((r) => [r.agent, r.setting, shown(r.setting as keyof PersonaOverride, r.value), r.setOn]),
        ['agent', 'setting', 'value', 'set on branch'],
        out.color,
      ))
        out.line(line);
    if (typeof effects === 'string') out.line(`effects on this branch: ${effects}`);
    return { exitCode: EXIT.ok, json };
  },
});

export const configCommands: readonly Command[] = [
  configSetToolsCommand,
  configSetBehaviorCommand,
  configShowOverridesCommand,
];
