import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.ts';
import { filesUnder, tempFolders } from '../helpers/folders.ts';

/*
 * `p2tui migrate p2engine`, run as a user runs it (a real CLI process) on test/fixtures/p2engine-checkout: a checkout
 * shaped like P2Engine's repository (root README.md, the Python project in p2engine/).
 */

const ROOT = new URL('../..', import.meta.url).pathname;
const FIXTURE = join(ROOT, 'test/fixtures/p2engine-checkout');
const P2ENGINE = join(FIXTURE, 'p2engine');

const tempFolder = tempFolders('p2tui-migrate-');

const ROLLOUTS = [
  'demo_rollout.yml',
  'rollout_competitive_payment.yml',
  'rollout_hierarchical_distribution.yml',
  'rollout_joke.yml',
  'rollout_task_with_payment.yml',
];
const AGENTS = ['agent_alpha', 'agent_beta', 'agent_helper', 'treasurer', 'agent_lemy', 'child'];

describe('p2tui migrate p2engine', () => {
  it('--dry-run prints the report and writes nothing; without --out it reports on the current workspace', async () => {
    const cwd = tempFolder();
    const out = join(cwd, 'new-workspace');
    const dry = await runCli(['migrate', 'p2engine', FIXTURE, '--out', out, '--dry-run'], { cwd });
    expect(dry.stderr).toBe('');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain(`P2Engine folder ${P2ENGINE} → workspace ${out} (dry run: nothing written)`);
    expect(dry.stdout).toMatch(/config\/agents\.yml \(agent_alpha\) +→ personas\/agent_alpha\.yaml {2}\(would write\)/);
    expect(dry.stdout).toMatch(/Dry run: 22 files would be written, 0 unchanged\./);
    expect(existsSync(out)).toBe(false);

    const json = await runCli(['migrate', 'p2engine', FIXTURE, '--dry-run', '--json'], { cwd });
    expect(json.code).toBe(0);
    const report = JSON.parse(json.stdout) as {
      out: string;
      dry_run: boolean;
      files: { to: string; written: boolean }[];
    };
    expect(report.out).toBe(cwd);
    expect(report.dry_run).toBe(true);
    expect(report.files.some((f) => f.written)).toBe(false);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('migrates the fixture: personas, verbatim rollouts, rubrics and templates, the demo tools, a report of what was mapped and what cannot be', async () => {
    const out = tempFolder();
    const result = await runCli(['migrate', 'p2engine', FIXTURE, '--out', out]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const { stdout } = result;
    // Carried: file → file.
    for (const id of AGENTS)
      expect(stdout).toMatch(new RegExp(`config/agents\\.yml \\(${id}\\) +→ personas/${id}\\.yaml {2}\\(written\\)`));
    for (const file of ROLLOUTS)
      expect(stdout).toMatch(new RegExp(`config/${file} +→ rollouts/${file} {2}\\(written\\)`));
    expect(stdout).toMatch(/infra\/evals\/rubrics\/joke_quality\.jinja +→ rubrics\/joke_quality\.jinja/);
    expect(stdout).toMatch(
      /agents\/templates\/personas\/weather_expert\.j2 +→ templates\/personas\/weather_expert\.j2/,
    );
    expect(stdout).toMatch(/p2tui's demo \(for get_weather\) +→ tools\/weather\.ts/);
    // Mapped, each with its mapping.
    expect(stdout).toContain("agent weather_bot: llm_model 'gpt-4o-mini' → openai/gpt-4o-mini");
    expect(stdout).toContain('agent weather_bot: behavior_template weather_expert → the system prompt');
    expect(stdout).toContain('agent faq_bot: type rule_based → model scripted/default with a script');
    // Said once for every agent it applies to, not once per agent.
    expect(stdout).toContain(
      'agents agent_alpha, agent_beta, agent_helper, treasurer, agent_lemy, child, weather_bot, faq_bot, operator: ' +
        "wallet: P2Engine's start-up (p2engine ledger init --balance 100.0) gave every agent 100 → balance: 100",
    );
    expect(stdout.match(/: wallet: P2Engine's start-up/g)).toHaveLength(1);
    expect(readFileSync(join(out, 'personas/treasurer.yaml'), 'utf8')).toMatch(/^balance: 100$/m);
    expect(stdout).toContain("tool check_balance (tools/ledger_tools.py:42) → p2tui's built-in check_balance");
    expect(stdout).toContain(
      "rollouts/rollout_joke.yml teams.joke_team.variants[1].model: model 'gpt-3.5-turbo' → openai/gpt-3.5-turbo",
    );
    // Cannot: the Python tools, each with the p2tui tool of the same name or the way through an MCP server.
    expect(stdout).toContain(
      'Python tool get_league_leader (tools/league_tool.py:12): p2tui does not run Python; ' +
        "the demo's get_league_leader, copied to tools/league.ts",
    );
    expect(stdout).toContain(
      'Python tool get_stock_price (tools/stock_tool.py:12): p2tui does not run Python; no p2tui tool of that name: ' +
        'serve the Python function from an MCP server',
    );
    expect(stdout).toContain(
      "To run a Python tool's own code instead of the demo's, serve the Python function from an MCP server",
    );
    expect(stdout).toContain('agent operator: callback_url http://localhost:8080/escalations');
    expect(stdout).toContain('agent weather_bot: enable_self_reflection');
    expect(stdout).toMatch(/Wrote 22 files \(0 overwritten\), 0 unchanged\./);

    // Rollouts, rubrics and templates byte for byte (comments survive); the demo's tools as shipped.
    for (const file of ROLLOUTS)
      expect(readFileSync(join(out, 'rollouts', file), 'utf8')).toBe(
        readFileSync(join(P2ENGINE, 'config', file), 'utf8'),
      );
    expect(readFileSync(join(out, 'rubrics/joke_quality.jinja'), 'utf8')).toBe(
      readFileSync(join(P2ENGINE, 'infra/evals/rubrics/joke_quality.jinja'), 'utf8'),
    );
    expect(readFileSync(join(out, 'templates/reflection/self.j2'), 'utf8')).toBe(
      readFileSync(join(P2ENGINE, 'agents/templates/reflection/self.j2'), 'utf8'),
    );
    expect(readFileSync(join(out, 'tools/weather.ts'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'tools/weather.ts'), 'utf8'),
    );
    expect(readFileSync(join(out, 'p2tui.yaml'), 'utf8')).toMatch(
      /^model: openai\/gpt-4o +#[^\n]*\njudge:\n {2}model: openai\/gpt-4o-mini/m,
    );
    // The personas load: every migrated agent is listed (operator's human model is another part of issue 20).
    const agents = await runCli(['agents', 'list', '--json'], { cwd: out });
    const listed = (JSON.parse(agents.stdout) as { id: string; model?: string }[]).map((a) => a.id);
    for (const id of [...AGENTS, 'weather_bot', 'faq_bot']) expect(listed).toContain(id);

    // The report as JSON: the same items, and each Python tool with its p2tui counterpart (or none).
    const json = await runCli(['migrate', 'p2engine', FIXTURE, '--out', out, '--dry-run', '--json']);
    const report = JSON.parse(json.stdout) as { tools: { name: string; p2tui: string | null }[]; cannot: string[] };
    expect(report.tools).toContainEqual(
      expect.objectContaining({ name: 'get_league_leader', p2tui: 'tools/league.ts' }),
    );
    expect(report.tools).toContainEqual(expect.objectContaining({ name: 'get_stock_price', p2tui: null }));
    expect(report.tools).toContainEqual(expect.objectContaining({ name: 'transfer_funds', p2tui: 'built in' }));
  });

  it('is idempotent: a second run writes nothing and says every file is unchanged', async () => {
    const out = tempFolder();
    expect((await runCli(['migrate', 'p2engine', FIXTURE, '--out', out])).code).toBe(0);
    const before = filesUnder(out).map((f) => [f, readFileSync(join(out, f), 'utf8')]);
    const again = await runCli(['migrate', 'p2engine', FIXTURE, '--out', out]);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/Nothing written: every file is unchanged \(21 files\)\./);
    expect(again.stdout).toMatch(/config\/agents\.yml \(agent_alpha\) +→ personas\/agent_alpha\.yaml {2}\(unchanged\)/);
    expect(again.stdout).toContain('kept: p2tui.yaml (the workspace has one');
    expect(filesUnder(out).map((f) => [f, readFileSync(join(out, f), 'utf8')])).toEqual(before);
  });

  it('refuses to overwrite a changed file without --force (exit 3, the files named, nothing written) and overwrites it with --force', async () => {
    const out = tempFolder();
    expect((await runCli(['migrate', 'p2engine', FIXTURE, '--out', out])).code).toBe(0);
    const persona = join(out, 'personas/agent_alpha.yaml');
    const rollout = join(out, 'rollouts/demo_rollout.yml');
    const fresh = readFileSync(persona, 'utf8');
    writeFileSync(persona, `${fresh}temperature: 0.1\n`);
    writeFileSync(rollout, '# my own experiment\n');
    // A file that would be new is not written either when the run is refused: all or nothing.
    rmSync(join(out, 'rubrics/joke_quality.jinja'));
    // A dry run says what a run would do: refuse, naming the same files.
    const dry = await runCli(['migrate', 'p2engine', FIXTURE, '--out', out, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toMatch(/personas\/agent_alpha\.yaml {2}\(differs: refused without --force\)/);
    expect(dry.stdout).toContain(
      'Dry run: 1 file would be written, 18 unchanged, 2 differ (refused without --force).\n' +
        `A run would be refused (exit 3): migrate: 2 files of ${out} differ from what the migration would write: ` +
        'personas/agent_alpha.yaml, rollouts/demo_rollout.yml; nothing was written',
    );
    const refused = await runCli(['migrate', 'p2engine', FIXTURE, '--out', out]);
    expect(refused.code).toBe(3);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toContain(
      `error E_MIGRATE_CONFLICT: migrate: 2 files of ${out} differ from what the migration would write: ` +
        'personas/agent_alpha.yaml, rollouts/demo_rollout.yml; nothing was written',
    );
    expect(refused.stderr).toContain('hint: Add --force to overwrite them');
    expect(readFileSync(persona, 'utf8')).toBe(`${fresh}temperature: 0.1\n`);
    expect(readFileSync(rollout, 'utf8')).toBe('# my own experiment\n');
    expect(existsSync(join(out, 'rubrics/joke_quality.jinja'))).toBe(false);

    const forced = await runCli(['migrate', 'p2engine', FIXTURE, '--out', out, '--force']);
    expect(forced.stderr).toBe('');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toMatch(/personas\/agent_alpha\.yaml {2}\(overwritten\)/);
    expect(forced.stdout).toMatch(/rubrics\/joke_quality\.jinja {2}\(written\)/);
    expect(forced.stdout).toMatch(/Wrote 3 files \(2 overwritten\), 18 unchanged\./);
    expect(readFileSync(persona, 'utf8')).toBe(fresh);
    expect(readFileSync(rollout, 'utf8')).toBe(readFileSync(join(P2ENGINE, 'config/demo_rollout.yml'), 'utf8'));
  });

  it('refuses a persona id another file of the workspace defines, even with --force', async () => {
    const out = tempFolder();
    mkdirSync(join(out, 'personas'));
    writeFileSync(join(out, 'personas/treasurer.md'), '---\nid: treasurer\ndescription: Mine.\n---\nYou pay.\n');
    // A p2tui workspace reads its config/agents.yml as personas too.
    mkdirSync(join(out, 'config'));
    writeFileSync(join(out, 'config/agents.yml'), 'agents:\n  - id: child\n    type: llm\n');
    const refused = await runCli(['migrate', 'p2engine', FIXTURE, '--out', out, '--force']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain(
      `error E_MIGRATE_CONFLICT: migrate: the workspace ${out} already defines agents the migration would write: ` +
        'personas/treasurer.md (agent treasurer), config/agents.yml (agent child); nothing was written',
    );
    expect(filesUnder(out)).toEqual(['config/agents.yml', 'personas/treasurer.md']);
  });

  it('an agent on a provider p2tui has no adapter for, or listing a tool it lacks, is reported under Cannot; the rest migrates (exit 0)', async () => {
    const cwd = tempFolder();
    cpSync(FIXTURE, join(cwd, 'checkout'), { recursive: true });
    const agents = join(cwd, 'checkout/p2engine/config/agents.yml');
    const text = readFileSync(agents, 'utf8')
      .replace(
        '  - id: agent_lemy\n    type: llm\n    llm_model: openai/gpt-4o',
        '  - id: agent_lemy\n    type: llm\n    llm_model: anthropic/claude-3-5-sonnet',
      )
      .replace(
        '  - id: child\n    type: llm\n    llm_model: openai/gpt-4o\n    tools:\n',
        '  - id: child\n    type: llm\n    llm_model: openai/gpt-4o\n    tools:\n      - get_stock_price\n',
      );
    writeFileSync(agents, text);
    const result = await runCli(['migrate', 'p2engine', 'checkout', '--out', 'out'], { cwd });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /^ {2}agent agent_lemy \(config\/agents\.yml\): not carried: .*anthropic.*OpenAI-compatible/m,
    );
    expect(result.stdout).toContain(
      'agent child lists tool get_stock_price, which p2tui has not built in and the migration did not bring: ' +
        'personas/child.yaml stays broken until the workspace has a tool of that name',
    );
    expect(existsSync(join(cwd, 'out/personas/agent_lemy.yaml'))).toBe(false);
    expect(existsSync(join(cwd, 'out/personas/agent_alpha.yaml'))).toBe(true);
  });

  it('the repository root and its p2engine/ folder migrate to the same workspace', async () => {
    const fromRoot = tempFolder();
    const fromFolder = tempFolder();
    expect((await runCli(['migrate', 'p2engine', FIXTURE, '--out', fromRoot])).code).toBe(0);
    const result = await runCli(['migrate', 'p2engine', P2ENGINE, '--out', fromFolder]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`P2Engine folder ${P2ENGINE} → workspace ${fromFolder}`);
    const files = filesUnder(fromRoot);
    expect(filesUnder(fromFolder)).toEqual(files);
    for (const f of files)
      expect(readFileSync(join(fromFolder, f), 'utf8')).toBe(readFileSync(join(fromRoot, f), 'utf8'));
  });

  it('a folder that is not a P2Engine checkout is refused (exit 3), saying what was looked for', async () => {
    const empty = tempFolder();
    const out = join(tempFolder(), 'out');
    const result = await runCli(['migrate', 'p2engine', empty, '--out', out]);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(
      `error E_MIGRATE_SOURCE: migrate: ${empty} is not a P2Engine folder: looked for config/agents.yml, ` +
        'config/*.yml (rollouts), infra/evals/rubrics/*.jinja, agents/templates/, tools/*.py in it and in its ' +
        'p2engine/ folder, and found none; nothing was written',
    );
    const missing = await runCli(['migrate', 'p2engine', join(empty, 'nope'), '--out', out]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain(`error E_MIGRATE_SOURCE: migrate: ${join(empty, 'nope')} does not exist`);
    expect(existsSync(out)).toBe(false);
  });

  it('a broken YAML file in config/ is refused (exit 3) with its file, line and column, and nothing is written', async () => {
    const cwd = tempFolder();
    cpSync(FIXTURE, join(cwd, 'checkout'), { recursive: true });
    writeFileSync(
      join(cwd, 'checkout/p2engine/config/rollout_broken.yml'),
      'teams:\n  t:\n    base: { agent_id: agent_alpha\n    variants:\n      - temperature: 0\n',
    );
    const result = await runCli(['migrate', 'p2engine', 'checkout', '--out', 'out'], { cwd });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(
      /^error E_MIGRATE_SOURCE: checkout\/p2engine\/config\/rollout_broken\.yml:4:5: YAML syntax: Flow map in block collection/m,
    );
    expect(existsSync(join(cwd, 'out'))).toBe(false);

    // agents.yml is read by P2Engine's rules (extra keys forbidden): a misspelt key is named with its line.
    rmSync(join(cwd, 'checkout/p2engine/config/rollout_broken.yml'));
    const agents = join(cwd, 'checkout/p2engine/config/agents.yml');
    writeFileSync(
      agents,
      readFileSync(agents, 'utf8').replace(
        '    tools:\n      - get_weather\n      - delegate',
        '    tool:\n      - get_weather\n      - delegate',
      ),
    );
    const typo = await runCli(['migrate', 'p2engine', 'checkout', '--out', 'out'], { cwd });
    expect(typo.code).toBe(3);
    expect(typo.stderr).toMatch(
      /^error E_AGENTS_YML: checkout\/p2engine\/config\/agents\.yml:9:\d+: agents\[0\]\.tool: unknown field 'tool' \(did you mean tools\?\)/m,
    );
    expect(existsSync(join(cwd, 'out'))).toBe(false);
  });
});
