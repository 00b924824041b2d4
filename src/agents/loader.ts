import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError, messageOf, suggest, type ValidationIssue } from '../core/errors.ts';
import { formatPath, parseYamlWith } from '../core/yaml-schema.ts';
import { BUILTIN_TEMPLATE_VARS, namedGroups, stepStrings, templateVars } from '../models/scripted/script.ts';
import { HUMAN_PROVIDER_ID } from '../models/human/provider.ts';
import { DEFAULT_POLICIES, DEFAULT_SYSTEM, personaSchema, type Persona, type PersonaFile } from './persona.ts';
import { AGENTS_YML, loadAgentsYml } from './p2engine/workspace-agents.ts';
import { PROMPT_VARIABLES, promptVariables } from './prompt.ts';

type Locate = (path: readonly (string | number)[]) => { line: number; column: number } | undefined;

export interface LoadedPersonas {
  readonly personas: ReadonlyMap<string, Persona>;
  /** Line lookup per persona id, for cross-reference errors. */
  readonly locate: ReadonlyMap<string, Locate>;
  /** Persona files that failed to load, each with every problem found in it; they disable only themselves. */
  readonly broken: readonly BrokenPersona[];
}

/** A persona file that could not be loaded: the agent it would define is unavailable, the others work. */
export interface BrokenPersona {
  /** The file, relative to the workspace (`personas/x.yaml`). */
  readonly file: string;
  /** The id it declares when that much could be read, else the file's name without extension. */
  readonly id: string;
  readonly issues: readonly ValidationIssue[];
}

const PERSONA_FILE = /\.(ya?ml|md)$/;

/** Longest text of one problem: a message quoting a whole (binary, huge) file is cut here. */
const MAX_ISSUE_TEXT = 300;
/** The same for config/agents.yml, whose messages say how to reach a model (a proxy, a p2tui.yaml provider). */
const MAX_AGENTS_YML_ISSUE_TEXT = 1000;

/**
 * Reads and validates every persona file of a workspace (schema only; references are checked by `checkReferences`).
 * A file that fails is set aside with all its problems (`broken`) instead of failing the workspace.
 */
export function loadPersonas(
  workspace: string,
  defaults: {
    model: string;
    temperature?: number;
    /** The providers of p2tui.yaml, for the LiteLLM model ids of config/agents.yml. */
    providers?: readonly string[];
  },
): LoadedPersonas {
  const folder = join(workspace, 'personas');
  const personas = new Map<string, Persona>();
  const locate = new Map<string, Locate>();
  const broken: BrokenPersona[] = [];
  /** Which file declared each id first (loaded or not). */
  const claimed = new Map<string, string>();
  for (const name of (existsSync(folder) ? readdirSync(folder) : [])
    .filter((f) => PERSONA_FILE.test(f) && !f.startsWith('_'))
    .sort()) {
    const file = join('personas', name);
    const fallbackId = name.replace(PERSONA_FILE, '');
    const issues: ValidationIssue[] = [];
    const fail = (): void => {
      broken.push({ file, id: declaredId ?? fallbackId, issues: issues.map((issue) => cleanIssue(issue)) });
    };
    let declaredId: string | undefined;
    let text: string;
    try {
      const bytes = readFileSync(join(folder, name));
      if (!isText(bytes)) {
        issues.push({
          file,
          line: 1,
          column: 1,
          field: '',
          message: `not a text file (${bytes.length} bytes of binary data)`,
        });
        fail();
        continue;
      }
      text = bytes.toString('utf8');
    } catch (error) {
      issues.push({ file, field: '', message: `cannot be read: ${messageOf(error)}` });
      fail();
      continue;
    }
    try {
      const parsed = name.endsWith('.md')
        ? parseMarkdownPersona(text, file)
        : parseYamlWith(personaSchema, text, file, { code: 'E_PERSONA_INVALID' });
      const p = parsed.value;
      declaredId = p.id;
      if (p.id !== fallbackId) {
        // The README's rule, personas/<id>.yaml: an agent is found, named and overridden by its file name as well as
        // its id (rollout specs, --system agent=…), so the two must not disagree.
        const ext = name.slice(fallbackId.length);
        issues.push({
          file,
          ...parsed.locate(['id']),
          field: 'id',
          message:
            `id '${p.id}' differs from the file's name '${fallbackId}': rename the file to personas/${p.id}${ext}, ` +
            `or set id: ${fallbackId}`,
        });
        fail();
        continue;
      }
      const first = claimed.get(p.id);
      if (first !== undefined) {
        // Two files for one agent: which one is meant cannot be guessed (and the one a file name sorts first could
        // take over an agent that pays), so the id is unavailable until one file is renamed.
        issues.push({
          file,
          ...parsed.locate(['id']),
          field: 'id',
          message: `persona id '${p.id}' is already defined in ${first}`,
        });
        fail();
        const loaded = personas.get(p.id);
        if (loaded !== undefined) {
          personas.delete(p.id);
          locate.delete(p.id);
          broken.push({
            file: loaded.source,
            id: p.id,
            issues: [{ file: loaded.source, field: 'id', message: `persona id '${p.id}' is also defined in ${file}` }],
          });
        }
        continue;
      }
      claimed.set(p.id, file);
      const tools = (p.tools ?? []).filter((t) => t !== 'delegate' && t !== 'ask_user');
      for (const [i, guarded] of (p.policies?.approve_tools ?? []).entries()) {
        if (!tools.includes(guarded))
          issues.push({
            file,
            ...parsed.locate(['policies', 'approve_tools', i]),
            field: `policies.approve_tools[${i}]`,
            message: `'${guarded}' is not one of this agent's tools (${tools.join(', ') || 'none'})`,
          });
      }
      if (issues.length > 0) {
        fail();
        continue;
      }
      personas.set(p.id, toPersona(p, file, defaults));
      locate.set(p.id, parsed.locate);
    } catch (error) {
      if (error instanceof ValidationError) issues.push(...error.issues);
      else issues.push({ file, field: '', message: messageOf(error) });
      fail();
    }
  }
  addAgentsYml(workspace, defaults, { personas, locate, broken, claimed });
  // Resolve the P2Engine-style wildcard now that every id is known.
  for (const [id, persona] of personas) {
    if (persona.agents.includes('*'))
      personas.set(id, { ...persona, agents: [...personas.keys()].filter((k) => k !== id) });
  }
  broken.sort((a, b) => a.file.localeCompare(b.file));
  return { personas, locate, broken };
}

/** A validated persona file as the engine uses it, with the workspace's defaults filled in. */
function toPersona(p: PersonaFile, file: string, defaults: { model: string; temperature?: number }): Persona {
  return {
    id: p.id,
    description: p.description.trim(),
    model: p.model ?? defaults.model,
    temperature: p.temperature ?? defaults.temperature ?? 0.2,
    ...(p.top_p === undefined ? {} : { topP: p.top_p }),
    ...(p.max_tokens === undefined ? {} : { maxTokens: p.max_tokens }),
    systemTemplate: p.system ?? DEFAULT_SYSTEM,
    vars: Object.fromEntries(Object.entries(p.vars ?? {}).map(([k, v]) => [k, String(v)])),
    tools: (p.tools ?? []).filter((t) => t !== 'delegate' && t !== 'ask_user'),
    // P2Engine listed `delegate` as a tool and could delegate to anyone: keep that meaning when agents is absent.
    agents: p.agents ?? ((p.tools ?? []).includes('delegate') ? ['*'] : []),
    policies: { ...DEFAULT_POLICIES, ...p.policies },
    balance: p.balance === undefined ? undefined : String(p.balance),
    script: p.script ?? [],
    source: file,
  };
}

/**
 * P2Engine's config/agents.yml, next to personas/: each of its agents is a persona (src/agents/p2engine says how).
 * A broken entry disables only its agent; an id that a persona file also defines disables both, as two persona
 * files for one id do.
 */
function addAgentsYml(
  workspace: string,
  defaults: { model: string; temperature?: number; providers?: readonly string[] },
  into: {
    personas: Map<string, Persona>;
    locate: Map<string, Locate>;
    broken: BrokenPersona[];
    claimed: Map<string, string>;
  },
): void {
  const { personas, locate, broken, claimed } = into;
  const yml = loadAgentsYml(workspace, defaults.providers ?? []);
  // Longer than a persona file's problems may be: a model p2tui has no adapter for is told its whole route.
  const clean = (issue: ValidationIssue): ValidationIssue => cleanIssue(issue, MAX_AGENTS_YML_ISSUE_TEXT);
  for (const b of yml.broken) broken.push({ file: AGENTS_YML, id: b.id, issues: b.issues.map(clean) });
  for (const { persona: p, locate: where, line } of yml.personas) {
    const first = claimed.get(p.id);
    if (first === undefined) {
      claimed.set(p.id, AGENTS_YML);
      personas.set(p.id, toPersona(p, AGENTS_YML, defaults));
      locate.set(p.id, where);
      continue;
    }
    const message = `agent id '${p.id}' is also defined in ${first}; rename or remove one of the two`;
    broken.push({ file: AGENTS_YML, id: p.id, issues: [{ file: AGENTS_YML, ...where(['id']), field: 'id', message }] });
    const loaded = personas.get(p.id);
    if (loaded === undefined) continue;
    personas.delete(p.id);
    broken.push({
      file: loaded.source,
      id: p.id,
      issues: [
        {
          file: loaded.source,
          ...locate.get(p.id)?.(['id']),
          field: 'id',
          message: `persona id '${p.id}' is also defined in ${AGENTS_YML} (line ${line}); rename or remove one of the two`,
        },
      ],
    });
    locate.delete(p.id);
  }
}

/** Text as the YAML parser would read it: no NUL bytes and valid UTF-8 (a binary file is neither). */
function isText(bytes: Buffer): boolean {
  if (bytes.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** A problem fit to print: control characters (escape sequences, carriage returns) shown escaped, long text cut. */
function cleanIssue(issue: ValidationIssue, max = MAX_ISSUE_TEXT): ValidationIssue {
  return { ...issue, message: printable(issue.message, max), field: printable(issue.field, max) };
}

/** C0 and C1 controls but tab and newline, and the Unicode line separators: what can move a terminal's cursor. */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/g;

function printable(text: string, max: number): string {
  const clean = text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const oneLine = clean.replace(/\n/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max)}… (${oneLine.length} characters)` : oneLine;
}

function parseMarkdownPersona(text: string, file: string): ReturnType<typeof parseYamlWith<typeof personaSchema>> {
  const match = text.match(/^---\r?\n([\s\S]*?)\r?\n---\r?\n?([\s\S]*)$/);
  if (match === null) {
    throw new ValidationError('E_PERSONA_INVALID', [
      {
        file,
        line: 1,
        column: 1,
        field: '',
        message: 'a Markdown persona starts with YAML front matter between two --- lines',
      },
    ]);
  }
  const front = match[1]!;
  const body = match[2]!.trim();
  const parsed = parseYamlWith(
    personaSchema.omit({ system: true }).extend({ system: personaSchema.shape.system }),
    front,
    file,
    {
      code: 'E_PERSONA_INVALID',
      lineOffset: 1,
    },
  );
  if (parsed.value.system !== undefined && body !== '') {
    throw new ValidationError('E_PERSONA_INVALID', [
      {
        file,
        ...parsed.locate(['system']),
        field: 'system',
        message: 'the system prompt is given twice: in the front matter and as the body; keep one',
      },
    ]);
  }
  return {
    value: { ...parsed.value, system: parsed.value.system ?? (body === '' ? undefined : body) },
    locate: parsed.locate,
  };
}

/**
 * Checks what a persona refers to: tools, agents, model providers, script rules and prompt variables. Every issue
 * names the persona file, the line and the field. A persona with problems is set aside with them (broken); the
 * others stop delegating to any broken one. Returns the personas that remain and every broken file.
 */
export function checkReferences(
  loaded: LoadedPersonas,
  known: { tools: readonly string[]; providers: readonly string[] },
): LoadedPersonas {
  const ids = [...loaded.personas.keys()];
  const brokenIds = new Set(loaded.broken.map((b) => b.id));
  const broken: BrokenPersona[] = [...loaded.broken];
  const personas = new Map(loaded.personas);
  for (const persona of loaded.personas.values()) {
    const issues: ValidationIssue[] = [];
    const at = (path: (string | number)[], message: string): void => {
      issues.push({ file: persona.source, ...loaded.locate.get(persona.id)?.(path), field: formatPath(path), message });
    };
    persona.tools.forEach((tool, i) => {
      if (!known.tools.includes(tool)) {
        const near = suggest(tool, known.tools);
        at(
          ['tools', i],
          `unknown tool '${tool}'${near === undefined ? '' : ` (did you mean ${near}?)`}; known tools: ${known.tools.join(', ') || '(none)'}`,
        );
      }
    });
    persona.agents.forEach((agent, i) => {
      if (agent === persona.id) at(['agents', i], 'an agent cannot delegate to itself');
      else if (!loaded.personas.has(agent) && !brokenIds.has(agent)) {
        const near = suggest(agent, ids);
        at(['agents', i], `unknown agent '${agent}'${near === undefined ? '' : ` (did you mean ${near}?)`}`);
      }
    });
    const provider = persona.model.split('/')[0]!;
    if (!known.providers.includes(provider))
      at(['model'], `unknown model provider '${provider}'; available: ${known.providers.join(', ')}`);
    // A person is reached only through a question: an agent that may not ask would wait for nobody.
    if (provider === HUMAN_PROVIDER_ID && !persona.policies.ask_user)
      at(
        ['policies', 'ask_user'],
        `${persona.id} is answered by a person (model ${persona.model}), who is asked through ask_user: remove policies.ask_user: false`,
      );
    const vars = new Set<string>([...PROMPT_VARIABLES, ...Object.keys(persona.vars)]);
    for (const name of promptVariables(persona.systemTemplate)) {
      if (!vars.has(name)) at(['system'], `unknown template variable {{${name}}}; available: ${[...vars].join(', ')}`);
    }
    persona.script.forEach((rule, r) => {
      try {
        new RegExp(rule.when, 'i');
      } catch (error) {
        at(['script', r, 'when'], `not a valid regular expression: ${(error as Error).message}`);
        return;
      }
      const allowed = new Set<string>([...BUILTIN_TEMPLATE_VARS, ...namedGroups(rule.when)]);
      rule.steps.forEach((step, s) => {
        const calls =
          'parallel' in step
            ? step.parallel.map((item, k) => ({ item, path: ['script', r, 'steps', s, 'parallel', k] }))
            : [{ item: step, path: ['script', r, 'steps', s] }];
        for (const { item, path } of calls) {
          if ('call' in item && !persona.tools.includes(item.call))
            at([...path, 'call'], `the script calls '${item.call}', which is not in this persona's tools`);
          if ('delegate' in item && !persona.agents.includes(item.delegate))
            at(
              [...path, 'delegate'],
              `the script delegates to '${item.delegate}', which is not in this persona's agents`,
            );
          if ('ask' in item && !persona.policies.ask_user)
            at([...path, 'ask'], 'the script asks the user, but policies.ask_user is false');
        }
        for (const { path, text } of stepStrings(step)) {
          for (const name of templateVars(text)) {
            if (!allowed.has(name))
              at(
                ['script', r, 'steps', s, ...path],
                `unknown template variable {{${name}}}; available: ${[...allowed].join(', ')}`,
              );
          }
        }
      });
    });
    if (issues.length > 0) {
      personas.delete(persona.id);
      broken.push({ file: persona.source, id: persona.id, issues: issues.map((issue) => cleanIssue(issue)) });
    }
  }
  // An agent that names a broken one keeps working; it only cannot delegate there until that file is fixed.
  for (const [id, persona] of personas) {
    if (persona.agents.some((a) => !personas.has(a)))
      personas.set(id, { ...persona, agents: persona.agents.filter((a) => personas.has(a)) });
  }
  broken.sort((a, b) => a.file.localeCompare(b.file));
  return { personas, locate: loaded.locate, broken };
}
