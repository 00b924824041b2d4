import { existsSync, readFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { stringify } from 'yaml';
import { readAgentsYml, personaFromP2EngineAgent } from '../../agents/p2engine/agents-yml.ts';
import { isP2Error, messageOf } from '../../core/errors.ts';
import { mapLiteLlmModel } from '../../models/litellm-ids.ts';
import { LEDGER_TOOLS } from '../../tools/builtin/ledger.ts';
import { loadWorkspaceTools } from '../../tools/loader.ts';
import { BUILTIN_TOOL_NAMES } from '../../tools/registry.ts';
import { PACKAGE } from '../workspace/next-steps.ts';
import {
  filesUnder,
  filesWith,
  isFile,
  parseSourceYaml,
  pythonTools,
  readSource,
  readSourceBytes,
  yamlFiles,
  type PythonTool,
} from './source.ts';

/*
 * What `p2tui migrate p2engine` would write, and why: every file of the new workspace with the P2Engine file it comes
 * from, what was mapped on the way, and what cannot be carried. Planning reads and never writes, so a dry run, a
 * second run and a refused run all see the same plan.
 */

export interface PlannedFile {
  /** Relative to the workspace, with `/`. */
  readonly to: string;
  /** Where it comes from: a P2Engine file (relative to its folder), or what the migration wrote it from. */
  readonly from: string;
  readonly content: Buffer;
}

/** A Python tool of the checkout and what stands for it in p2tui. */
export interface ToolReport extends PythonTool {
  /** The p2tui tool of the same name: a workspace file the migration copies, `built in`, or none. */
  readonly p2tui: string | null;
  readonly note: string;
}

export interface MigrationPlan {
  readonly files: PlannedFile[];
  readonly mapped: string[];
  readonly cannot: string[];
  /** Files the migration leaves alone on purpose (an existing p2tui.yaml). */
  readonly kept: string[];
  readonly tools: ToolReport[];
  /** The agents.yml ids that became personas. */
  readonly personas: string[];
}

/** How to run a Python tool in p2tui: the README's "MCP tools" section, applied. */
export const MCP_ADVICE =
  'serve the Python function from an MCP server (e.g. the Python MCP SDK: FastMCP, @mcp.tool() on the same ' +
  'function), declare it in p2tui.yaml (mcp_servers: { py: { command: python, args: [tools_server.py] } }) and list ' +
  'it in personas as py__<name> (README "MCP tools")';

/** The wallet every migrated agent starts with, and why. */
const WALLET =
  "wallet: P2Engine's start-up (p2engine ledger init --balance 100.0) gave every agent 100 → balance: 100 " +
  '(funded by p2tui ledger init, and in every rollout cell)';

/** What p2tui.yaml says when the migration writes it: P2Engine's models, its judge's model. */
const SETTINGS = `# p2tui workspace settings, written by \`p2tui migrate p2engine\` (every field is optional).
# P2Engine's agents ran on openai/gpt-4o and its judge (gpt4_judge) on openai/gpt-4o-mini; these keep that.
# Offline, without a key: p2tui rollout run rollouts/<file> --model scripted/default
model: openai/gpt-4o          # model for personas that name none
judge:
  model: openai/gpt-4o-mini   # the judge model of rubrics (P2Engine's gpt4_judge)
`;

/** Plans the migration of the P2Engine folder `root` into the workspace `out`. */
export async function planMigration(root: string, out: string): Promise<MigrationPlan> {
  const plan: MigrationPlan = { files: [], mapped: [], cannot: [], kept: [], tools: [], personas: [] };
  const declared = declaredProviders(out);
  const rubrics = planRubrics(root, plan);
  planTemplates(root, plan);
  const tools = await planTools(root, plan);
  planAgents(root, plan, declared, tools);
  planRollouts(root, plan, declared, rubrics);
  if (existsSync(join(out, 'p2tui.yaml'))) {
    plan.kept.push('p2tui.yaml (the workspace has one; the migration writes one only where there is none)');
  } else {
    plan.files.push({ to: 'p2tui.yaml', from: '(P2Engine defaults)', content: Buffer.from(SETTINGS) });
    plan.mapped.push(
      'P2Engine defaults → p2tui.yaml: model openai/gpt-4o, judge model openai/gpt-4o-mini (gpt4_judge)',
    );
  }
  // Listed as a workspace reads: its agents, their experiments, the judge's rubrics, then what those use.
  const order = ['personas/', 'rollouts/', 'rubrics/', 'templates/', 'tools/'];
  const rank = (to: string): number => {
    const i = order.findIndex((prefix) => to.startsWith(prefix));
    return i < 0 ? order.length : i;
  };
  plan.files.sort((a, b) => rank(a.to) - rank(b.to));
  return plan;
}

/** A path to show for a file of the checkout: as typed from here when that is shorter, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' || rel.startsWith('..') ? path : rel;
}

/** Providers declared in the workspace's p2tui.yaml (LiteLLM ids of those providers run unchanged). */
function declaredProviders(out: string): string[] {
  const file = join(out, 'p2tui.yaml');
  if (!isFile(file)) return [];
  try {
    const value = parseSourceYaml(readFileSync(file, 'utf8'), file);
    const providers = isRecord(value) ? value['providers'] : undefined;
    return isRecord(providers) ? Object.keys(providers) : [];
  } catch {
    // The workspace's own settings are not the migration's to judge: `p2tui doctor` reports them.
    return [];
  }
}

function planRubrics(root: string, plan: MigrationPlan): Set<string> {
  const dir = join(root, 'infra', 'evals', 'rubrics');
  const ids = new Set<string>();
  for (const name of filesWith(dir, '.jinja')) {
    const from = `infra/evals/rubrics/${name}`;
    plan.files.push({ to: `rubrics/${name}`, from, content: readSourceBytes(join(dir, name), shown(join(dir, name))) });
    ids.add(name.replace(/\.jinja$/, ''));
  }
  if (ids.size > 0)
    plan.mapped.push(
      `rubric library infra/evals/rubrics/<id>.jinja → rubrics/<id>.jinja, verbatim: an eval's rubric: <id> finds it ` +
        'there, and the judge reads its whole text, unrendered, as P2Engine did',
    );
  return ids;
}

function planTemplates(root: string, plan: MigrationPlan): void {
  const dir = join(root, 'agents', 'templates');
  const files = filesUnder(dir);
  for (const file of files)
    plan.files.push({
      to: `templates/${file}`,
      from: `agents/templates/${file}`,
      content: readSourceBytes(join(dir, file), shown(join(dir, file))),
    });
  if (files.includes('system_message.j2'))
    plan.cannot.push(
      'agents/templates/system_message.j2: P2Engine prefixed every prompt with it; p2tui writes its own preamble from ' +
        "the persona's tools and delegates, so it is carried (templates/system_message.j2) but not used",
    );
  const reflection = files.filter((f) => f.startsWith('reflection/'));
  if (reflection.length > 0)
    plan.cannot.push(
      `agents/templates/${reflection.join(', ')}: prompts of P2Engine's self-reflection, which p2tui does not run ` +
        '(the judge scores finished work instead); carried, not used',
    );
}

/** The Python tools, each with what stands for it; the demo's workspace tools of the same name are copied. */
async function planTools(root: string, plan: MigrationPlan): Promise<Set<string>> {
  const dir = join(root, 'tools');
  const found = filesWith(dir, '.py').flatMap((name) =>
    pythonTools(readSource(join(dir, name), shown(join(dir, name))), `tools/${name}`),
  );
  const available = new Set<string>([...BUILTIN_TOOL_NAMES, ...LEDGER_TOOLS.map((t) => t.name)]);
  if (found.length === 0) return available;
  const ledger = new Set(LEDGER_TOOLS.map((t) => t.name));
  // The demo workspace's tools (tools/*.ts shipped with p2tui), by name, with their files.
  const demo = new Map<string, string>();
  for (const tool of await loadWorkspaceTools(PACKAGE))
    if (tool.source !== undefined) demo.set(tool.name, resolve(process.cwd(), tool.source));
  const copied = new Set<string>();
  for (const tool of found) {
    const at = `${tool.file}:${tool.line}`;
    const demoFile = demo.get(tool.name);
    if (tool.name === 'delegate') {
      plan.tools.push({ ...tool, p2tui: 'built in', note: "p2tui's delegation (built in)" });
      plan.mapped.push(
        `tool delegate (${at}) → p2tui's built-in delegation: an agent delegates to the agents its persona lists ` +
          'under agents: (delegate in its tools: any agent, as in P2Engine)',
      );
    } else if (ledger.has(tool.name)) {
      plan.tools.push({ ...tool, p2tui: 'built in', note: `p2tui's built-in ledger tool ${tool.name}` });
      plan.mapped.push(
        `tool ${tool.name} (${at}) → p2tui's built-in ${tool.name}: wallets on the embedded ledger (or Canton) ` +
          'instead of the Canton JSON API v1',
      );
    } else if (demoFile !== undefined) {
      const to = `tools/${basename(demoFile)}`;
      if (!copied.has(to)) {
        plan.files.push({ to, from: `p2tui's demo (for ${tool.name})`, content: readSourceBytes(demoFile, demoFile) });
        copied.add(to);
      }
      available.add(tool.name);
      plan.tools.push({ ...tool, p2tui: to, note: `the demo's ${tool.name}, copied to ${to}` });
    } else {
      plan.tools.push({ ...tool, p2tui: null, note: `no p2tui tool of that name: ${MCP_ADVICE}` });
    }
  }
  const python = plan.tools.filter((t) => t.p2tui !== 'built in');
  for (const tool of python)
    plan.cannot.push(
      tool.p2tui === null
        ? `Python tool ${tool.name} (${tool.file}:${tool.line}): p2tui does not run Python; ${tool.note}`
        : `Python tool ${tool.name} (${tool.file}:${tool.line}): p2tui does not run Python; ${tool.note} ` +
            "(the demo's own implementation, not this file's)",
    );
  if (python.some((t) => t.p2tui !== null))
    plan.cannot.push(`To run a Python tool's own code instead of the demo's, ${MCP_ADVICE}`);
  return available;
}

function planAgents(root: string, plan: MigrationPlan, declared: readonly string[], tools: Set<string>): void {
  const path = join(root, 'config', 'agents.yml');
  if (!isFile(path)) return;
  const agents = readAgentsYml(readSource(path, shown(path)), shown(path));
  const templates = join(root, 'agents', 'templates');
  const template = (name: string): string | undefined => {
    for (const sub of ['', 'personas/'])
      for (const ext of ['.j2', '.md', '.txt']) {
        const file = join(templates, `${sub}${name}${ext}`);
        if (isFile(file)) return readSource(file, shown(file));
      }
    return undefined;
  };
  for (const agent of agents) {
    let conversion: ReturnType<typeof personaFromP2EngineAgent>;
    try {
      conversion = personaFromP2EngineAgent(agent, { template, declaredProviders: declared });
    } catch (error) {
      // One agent p2tui cannot run (a provider it has no adapter for) leaves the others to migrate.
      if (!isP2Error(error)) throw error;
      plan.cannot.push(`agent ${agent.id} (config/agents.yml): not carried: ${messageOf(error)}`);
      continue;
    }
    // P2Engine's start-up (run_project.sh: `p2engine ledger init --balance 100.0`) gave every agent a wallet of 100.
    const persona =
      conversion.persona.balance === undefined ? { ...conversion.persona, balance: 100 } : conversion.persona;
    const mapped = [...conversion.mapped, ...(persona === conversion.persona ? [] : [WALLET])];
    const lines = [...mapped, ...conversion.cannot].map((l) => `# - ${oneLine(l)}`);
    const header = [
      `# Migrated by \`p2tui migrate p2engine\` from P2Engine's config/agents.yml (agent ${agent.id}).`,
      ...(lines.length > 0 ? ['# On the way:', ...lines] : []),
    ];
    const text = `${header.join('\n')}\n${stringify(persona, { lineWidth: 0 })}`;
    plan.files.push({
      to: `personas/${agent.id}.yaml`,
      from: `config/agents.yml (${agent.id})`,
      content: Buffer.from(text),
    });
    plan.personas.push(agent.id);
    plan.mapped.push(...mapped.map((l) => `agent ${agent.id}: ${oneLine(l)}`));
    plan.cannot.push(...conversion.cannot.map((l) => `agent ${agent.id}: ${oneLine(l)}`));
    for (const tool of persona.tools ?? [])
      if (!tools.has(tool))
        plan.cannot.push(
          `agent ${agent.id} lists tool ${tool}, which p2tui has not built in and the migration did not bring: ` +
            `personas/${agent.id}.yaml stays broken until the workspace has a tool of that name (${MCP_ADVICE})`,
        );
  }
}

/** `config/*.yml` that are rollout specs (they have `teams:`), copied verbatim so their comments survive. */
function planRollouts(root: string, plan: MigrationPlan, declared: readonly string[], rubrics: Set<string>): void {
  const dir = join(root, 'config');
  for (const name of yamlFiles(dir)) {
    if (name === 'agents.yml') continue;
    const from = `config/${name}`;
    const path = join(dir, name);
    const bytes = readSourceBytes(path, shown(path));
    const value = parseSourceYaml(bytes.toString('utf8'), shown(path));
    if (!isRecord(value) || !isRecord(value['teams'])) {
      plan.cannot.push(`${from}: not a rollout spec (it has no teams:) and not agents.yml; not carried`);
      continue;
    }
    const to = `rollouts/${name}`;
    plan.files.push({ to, from, content: bytes });
    for (const [where, model] of rolloutModels(value['teams'])) {
      const mapped = mapLiteLlmModel(model, declared);
      if (mapped.kind === 'mapped') plan.mapped.push(`${to} ${where}: model ${mapped.note}`);
      if (mapped.kind === 'unsupported') plan.cannot.push(`${to} ${where}: ${oneLine(mapped.message)}`);
    }
    for (const [team, spec] of Object.entries(value['teams'])) {
      const evalSpec = isRecord(spec) ? spec['eval'] : undefined;
      const rubric = isRecord(evalSpec) ? evalSpec['rubric'] : undefined;
      if (typeof rubric === 'string' && /^[A-Za-z0-9_-]+$/.test(rubric.trim()) && !rubrics.has(rubric.trim()))
        plan.cannot.push(
          `${to} teams.${team}.eval.rubric: '${rubric.trim()}' is not in infra/evals/rubrics/ of this checkout; ` +
            `add rubrics/${rubric.trim()}.jinja (or .yaml) to the workspace`,
        );
    }
  }
}

/** Each `model:` of a spec's teams (base, list variants, dict-of-lists variants), with where it is. */
function rolloutModels(teams: Record<string, unknown>): [string, string][] {
  const out: [string, string][] = [];
  for (const [team, spec] of Object.entries(teams)) {
    if (!isRecord(spec)) continue;
    const base = spec['base'];
    if (isRecord(base) && typeof base['model'] === 'string') out.push([`teams.${team}.base.model`, base['model']]);
    const variants = spec['variants'];
    if (Array.isArray(variants))
      variants.forEach((v, i) => {
        if (isRecord(v) && typeof v['model'] === 'string') out.push([`teams.${team}.variants[${i}].model`, v['model']]);
      });
    else if (isRecord(variants) && Array.isArray(variants['model']))
      variants['model'].forEach((m, i) => {
        if (typeof m === 'string') out.push([`teams.${team}.variants.model[${i}]`, m]);
      });
  }
  return out;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}
