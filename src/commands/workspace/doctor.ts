import { existsSync, statSync } from 'node:fs';
import { formatIssue, isP2Error, messageOf, storageFailureOf } from '../../core/errors.ts';
import type { Workspace } from '../../app/workspace.ts';
import { defineCommand } from '../define.ts';
import { paint } from '../render/text.ts';
import { EXIT } from '../types.ts';
import { terminalText } from '../../core/terminal-text.ts';

/** P2Engine's agents file, when the workspace has one: its agents, and every problem of the entries that cannot run. */
function agentsYmlChecks(workspace: Workspace, file: string): Check[] {
  const loaded = [...workspace.personas.values()].filter((p) => p.source === file).map((p) => p.id);
  const broken = workspace.brokenPersonas.filter((b) => b.file === file);
  if (loaded.length === 0 && broken.length === 0) return [];
  const detail = `${file}: ${loaded.length} agents loaded as personas${loaded.length === 0 ? '' : ` (${loaded.join(', ')})`}`;
  if (broken.length === 0) return [{ name: 'agents.yml', ok: true, detail }];
  const issues = broken.flatMap((b) => b.issues.map(formatIssue));
  return [
    {
      name: 'agents.yml',
      ok: false,
      code: 'E_AGENTS_YML',
      detail: `${detail}; ${broken.length} unavailable: ${issues.join('; ')}`,
      hint: `Fix those entries of ${file}; the workspace's other agents work (p2tui agents list).`,
    },
  ];
}

/*
 * What the doctor checks loads when it runs (the providers' SDKs, SQLite, the config's schemas): the registry
 * imports this module at start-up.
 */

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
  readonly hint?: string;
  /** The error code of a failed check, when it has one (E_DB_CORRUPT, …). */
  readonly code?: string;
}

/**
 * Each real provider: reachable, and which models it offers. A provider no persona uses is only reported (it
 * cannot fail the doctor); one a persona uses must answer.
 */
async function providerChecks(workspace: Workspace): Promise<Check[]> {
  const users = new Map<string, string[]>();
  for (const persona of workspace.personas.values()) {
    const provider = persona.model.split('/')[0] ?? '';
    users.set(provider, [...(users.get(provider) ?? []), persona.id]);
  }
  const checks = workspace.providers.ids().map(async (id): Promise<Check> => {
    const provider = workspace.providers.resolve(`${id}/x`).provider;
    const usedBy = users.get(id) ?? [];
    const name = `provider ${id}`;
    const where = provider.endpoint ?? '';
    const by = usedBy.length === 0 ? 'no persona uses it' : `used by ${usedBy.join(', ')}`;
    if (provider.listModels === undefined)
      return { name, ok: true, detail: provider.simulated ? `simulator, ${by}` : by };
    if (provider.hasKey === false && where.startsWith('https://api.openai.com')) {
      return {
        name,
        ok: usedBy.length === 0,
        detail: `${where}: no API key (${by})`,
        hint: 'Set OPENAI_API_KEY in the environment or in the workspace .env file.',
      };
    }
    try {
      const models = await provider.listModels(AbortSignal.timeout(3000));
      const shown =
        models.length > 8 ? `${models.slice(0, 8).join(', ')}, … (${models.length})` : models.join(', ') || 'none';
      return { name, ok: true, detail: `${where}: reachable, models: ${shown} (${by})` };
    } catch (error) {
      const hint =
        isP2Error(error) && error.hint !== undefined
          ? error.hint
          : `Start the server at ${where}, or point providers.${id} at it in p2tui.yaml.`;
      return { name, ok: usedBy.length === 0, detail: `${where}: not reachable: ${messageOf(error)} (${by})`, hint };
    }
  });
  return Promise.all(checks);
}

/**
 * How the file is writable. Root writes a mode-0444 file all the same (SQLite did, just now): said, so the check
 * does not call writable for everyone a file only root can write.
 */
function writable(path: string): string {
  const mode = statSync(path).mode & 0o777;
  const root = process.getuid?.() === 0;
  return root && (mode & 0o222) === 0
    ? `writable only because p2tui runs as root (mode ${mode.toString(8).padStart(4, '0')})`
    : 'writable';
}

export const doctorCommand = defineCommand({
  path: ['doctor'],
  summary: 'Check Node, the database and the workspace, and say what to fix',
  async run(ctx) {
    const checks: Check[] = [];
    const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
    const nodeOk = major > 22 || (major === 22 && minor >= 12);
    checks.push({
      name: 'node',
      ok: nodeOk,
      detail: `Node ${process.version}`,
      ...(nodeOk ? {} : { hint: 'p2tui needs Node 22.12 or newer.' }),
    });
    try {
      // Inside the check: a missing native binding fails the import, and the doctor says so.
      const { sqliteVersion } = await import('../../store/database.ts');
      const version = sqliteVersion();
      checks.push({ name: 'sqlite', ok: true, detail: `better-sqlite3 with SQLite ${version}` });
    } catch (error) {
      checks.push({
        name: 'sqlite',
        ok: false,
        detail: messageOf(error),
        hint: 'Reinstall: npm ci (better-sqlite3 13 ships prebuilt binaries for Node 22+).',
      });
    }
    const root = ctx.workspaceDir;
    let loaded: Workspace | undefined;
    const { isWorkspace, readWorkspaceConfig } = await import('../../app/config.ts');
    if (!isWorkspace(root)) {
      checks.push({
        name: 'workspace',
        ok: false,
        detail: `${root} has no p2tui.yaml or personas/ folder`,
        hint: 'Run p2tui init here, or pass --workspace <dir>.',
      });
    } else {
      try {
        readWorkspaceConfig(root);
        const workspace = await ctx.workspace();
        loaded = workspace;
        const { LEDGER_TOOLS } = await import('../../tools/builtin/ledger.ts');
        const own = workspace.tools.names().filter((n) => !LEDGER_TOOLS.some((t) => t.name === n)).length;
        const tools = `${own} tools (and the ledger's ${LEDGER_TOOLS.length})`;
        const defaults = workspace.configFile === undefined ? ', default settings' : '';
        checks.push({
          name: 'workspace',
          ok: true,
          detail: `${root}: ${workspace.personas.size} personas, ${tools}${defaults}`,
        });
        const { AGENTS_YML } = await import('../../agents/p2engine/workspace-agents.ts');
        checks.push(...agentsYmlChecks(workspace, AGENTS_YML));
        checks.push({
          name: 'models',
          ok: true,
          detail: `providers: ${workspace.providers.ids().join(', ')} (scripted is the offline simulator)`,
        });
        checks.push(...(await providerChecks(workspace)));
        for (const server of workspace.mcpServers)
          checks.push({
            name: `mcp ${server.name}`,
            ok: true,
            detail: `${server.endpoint}: connected, ${server.tools} tools`,
          });
        const evaluators = workspace.evaluators.list();
        const llm = evaluators.filter((e) => e.kind === 'llm');
        const judgeModels = [...new Set(llm.map((e) => workspace.evaluators.modelOf(e)))];
        const kinds = evaluators.map((e) => `${e.id}: ${e.kind}`).join(', ');
        const models = judgeModels.map((m) => (m.startsWith('scripted/') ? `${m} (the scripted judge)` : m)).join(', ');
        const judgeModel = judgeModels.length === 0 ? '' : `, judge model ${models}`;
        const policies = workspace.scorePolicies.length;
        const scorePolicies = policies === 0 ? '' : `, ${policies} score policies`;
        const rubrics = workspace.evaluators.rubrics.size;
        checks.push({
          name: 'judge',
          ok: true,
          detail:
            evaluators.length === 0
              ? 'no evaluators (judge.evaluators in p2tui.yaml)'
              : `${evaluators.length} evaluators (${kinds}), ${rubrics} rubrics${judgeModel}${scorePolicies}`,
        });
      } catch (error) {
        checks.push({
          name: 'workspace',
          ok: false,
          detail: messageOf(error),
          ...(isP2Error(error) && error.hint !== undefined ? { hint: error.hint } : {}),
        });
      }
    }
    try {
      const dbPath =
        ctx.dbPath ??
        (await ctx
          .workspace()
          .then((w) => w.dbPath)
          .catch(() => undefined));
      if (dbPath === undefined) {
        checks.push({
          name: 'database',
          ok: false,
          detail: 'no database path (the workspace did not load)',
          hint: 'Fix the workspace, or pass --db <file>.',
        });
      } else if (ctx.dbPath !== undefined && !existsSync(dbPath)) {
        // A --db the user typed names a file to check: a mistyped one is said, not created (the workspace's own
        // database is created below, as the first run would).
        checks.push({
          name: 'database',
          ok: false,
          detail: `there is no database at ${dbPath}`,
          hint: 'Check the --db path; the first run or chat with this --db creates the file.',
        });
      } else {
        const existed = existsSync(dbPath);
        const store = await ctx.store();
        const { LATEST_SCHEMA_VERSION } = await import('../../store/migrations.ts');
        const { schemaVersion: version, journalMode: mode, sessions } = store.describe();
        store.assertWritable();
        store.assertIntact();
        checks.push({
          name: 'database',
          ok: true,
          detail:
            `${dbPath}${existed ? '' : ' (created)'}: schema ${version}/${LATEST_SCHEMA_VERSION}, ${mode} mode, ` +
            `${sessions} sessions, ${writable(dbPath)}, integrity check ok`,
        });
      }
    } catch (thrown) {
      const error = storageFailureOf(thrown) ?? thrown;
      checks.push({
        name: 'database',
        ok: false,
        detail: isP2Error(error) ? `${error.code}: ${messageOf(error)}` : messageOf(error),
        ...(isP2Error(error) ? { code: error.code } : {}),
        ...(isP2Error(error) && error.hint !== undefined ? { hint: error.hint } : {}),
      });
    }
    const ok = checks.every((c) => c.ok);
    // What servers said (model lists, error messages) is shown: no configured key in any of it.
    const shown = loaded === undefined ? checks : checks.map((c) => loaded.redactor.json(c));
    // A database that cannot be used is the store's exit code (5), as for every other command.
    const storeFailed = checks.some((c) => !c.ok && c.code?.startsWith('E_DB_') === true);
    const exitCode = ok ? EXIT.ok : storeFailed ? EXIT.store : EXIT.failed;
    if (ctx.output.json) return { exitCode, json: { ok, checks: shown.map((c) => ({ ...c })) } };
    const color = ctx.output.color;
    for (const check of shown) {
      ctx.output.line(
        `${check.ok ? paint(color, 'green', '✓') : paint(color, 'red', '✗')} ${check.name.padEnd(17)} ${terminalText(check.detail)}`,
      );
      // Details and hints quote what servers, MCP commands and files said: shown, not obeyed.
      if (!check.ok && check.hint !== undefined) ctx.output.line(`  ${paint(color, 'gray', terminalText(check.hint))}`);
    }
    return { exitCode };
  },
});
