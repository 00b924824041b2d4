import { formatIssue } from '../../core/errors.ts';
import { defineCommand } from '../define.ts';
import { paint, table, truncate } from '../render/text.ts';
import { EXIT } from '../types.ts';

/** What the workspace offers: its agents and its tools. */

export const agentsListCommand = defineCommand({
  path: ['agents', 'list'],
  summary: 'List the agents (personas) of the workspace',
  async run(ctx) {
    const workspace = await ctx.workspace();
    const personas = [...workspace.personas.values()];
    if (ctx.output.json) {
      return {
        exitCode: EXIT.ok,
        json: [
          ...personas.map((p) => ({
            id: p.id,
            description: p.description,
            model: p.model,
            simulated: p.model.startsWith('scripted/'),
            temperature: p.temperature,
            tools: [...p.tools],
            agents: [...p.agents],
            askUser: p.policies.ask_user,
            balance: p.balance ?? null,
            source: p.source,
          })),
          // Not loaded: each broken file, with every problem found in it.
          ...workspace.brokenPersonas.map((b) => ({
            id: b.id,
            source: b.file,
            broken: true,
            errors: b.issues.map(formatIssue),
          })),
        ],
      };
    }
    if (personas.length === 0 && workspace.brokenPersonas.length === 0) {
      ctx.output.line(
        `No personas in ${workspace.root}/personas. Create one, or scaffold a workspace with: p2tui init`,
      );
      return { exitCode: EXIT.ok };
    }
    const c = ctx.output.color;
    const rows = personas.map((p) => [
      p.id,
      `${p.model}${p.model.startsWith('scripted/') ? paint(c, 'gray', ' (sim)') : ''}`,
      p.tools.join(', ') || '-',
      p.agents.length === 0 ? '-' : `→ ${p.agents.join(', ')}`,
      truncate(p.description, 60),
    ]);
    for (const b of workspace.brokenPersonas)
      rows.push([
        b.id,
        paint(c, 'red', 'broken'),
        '-',
        '-',
        `${b.file}: ${b.issues.length} problem${b.issues.length === 1 ? '' : 's'}`,
      ]);
    for (const line of table(rows, ['AGENT', 'MODEL', 'TOOLS', 'DELEGATES TO', 'DESCRIPTION'], c))
      ctx.output.line(line);
    // Agents of P2Engine's agents file are not persona files: say where they come from.
    const fromYml = personas.filter((p) => p.source === 'config/agents.yml').map((p) => p.id);
    if (fromYml.length > 0) ctx.output.line(`From config/agents.yml (P2Engine's agents file): ${fromYml.join(', ')}`);
    if (workspace.brokenPersonas.length > 0) {
      ctx.output.line('');
      ctx.output.line(
        paint(
          c,
          'red',
          `${workspace.brokenPersonas.length} persona file(s) broken, their agents unavailable (the others work):`,
        ),
      );
      for (const b of workspace.brokenPersonas)
        for (const issue of b.issues) ctx.output.line(`  ${formatIssue(issue)}`);
    }
    return { exitCode: EXIT.ok };
  },
});

export const toolsListCommand = defineCommand({
  path: ['tools', 'list'],
  summary: 'List the tools of the workspace, with their effect class and who may call them',
  async run(ctx) {
    const workspace = await ctx.workspace();
    const usedBy = (name: string): string[] =>
      [...workspace.personas.values()].filter((p) => p.tools.includes(name)).map((p) => p.id);
    const tools = workspace.tools.all();
    if (ctx.output.json) {
      return {
        exitCode: EXIT.ok,
        json: tools.map((t) => ({
          name: t.name,
          description: t.description,
          effect: t.effect,
          dedup: t.dedup,
          cacheTtlMs: t.cacheTtlMs,
          timeoutMs: t.timeoutMs ?? null,
          reconcile: t.reconcile !== undefined,
          parameters: t.parameters,
          source: t.source ?? null,
          usedBy: usedBy(t.name),
        })),
      };
    }
    const c = ctx.output.color;
    const rows = tools.map((t) => [
      t.name,
      t.effect +
        (t.effect === 'effectful' && t.dedup !== 'none' ? `/${t.dedup}` : '') +
        (t.effect === 'pure' && t.cacheTtlMs > 0 ? ` (cache ${Math.round(t.cacheTtlMs / 1000)}s)` : ''),
      usedBy(t.name).join(', ') || '-',
      truncate(t.description, 60),
    ]);
    for (const line of table(rows, ['TOOL', 'EFFECT', 'USED BY', 'DESCRIPTION'], c)) ctx.output.line(line);
    ctx.output.line(
      paint(
        c,
        'gray',
        'Built in: delegate (for agents with agents: [...]) and ask_user (unless policies.ask_user is false).',
      ),
    );
    return { exitCode: EXIT.ok };
  },
});
