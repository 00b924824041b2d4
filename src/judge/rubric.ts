import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, extname, join, relative } from 'node:path';
import { z } from 'zod';
import { ValidationError, type ValidationIssue } from '../core/errors.ts';
import { sha256 } from '../core/hash.ts';
import { parseYamlWith } from '../core/yaml-schema.ts';

/**
 * Rubrics: weighted criteria a judge scores in [0, 1], and the prompt template that asks for them. Written in YAML
 * or Markdown under `rubrics/`, or inline in an evaluator of `p2tui.yaml`; or as P2Engine wrote them, a
 * `rubrics/<id>.jinja` whose whole text is the judge's instructions (one score, `{"score": x, "comment": "…"}`).
 */

/** Variables a judge prompt template may use. */
export const PROMPT_VARIABLES = ['task', 'answer', 'transcript', 'criteria', 'agent', 'rubric'] as const;

export const DEFAULT_JUDGE_PROMPT = `You are a strict, fair evaluator of an AI agent's work.

Task given to the agent ({{agent}}):
{{task}}

The agent's final answer:
{{answer}}

What the agent did, step by step:
{{transcript}}

Score each criterion of the rubric "{{rubric}}" from 0 (not met at all) to 1 (fully met), with a one-sentence reason:
{{criteria}}

Answer with JSON only: {"criteria": [{"id": "<criterion id>", "score": <0..1>, "reason": "<why>"}], "overall": <0..1>}.`;

export interface Criterion {
  readonly id: string;
  readonly description: string;
  readonly weight: number;
  /** 1-based line in the rubric file, when it came from one. */
  readonly line?: number;
}

export interface Rubric {
  readonly id: string;
  readonly description: string;
  readonly criteria: readonly Criterion[];
  readonly prompt: string;
  /** Where it was defined: a file of rubrics/ relative to the workspace, or `p2tui.yaml` for an inline one. */
  readonly source: string;
  /** Changes whenever the criteria or the prompt change: part of a score's evaluator version. */
  readonly version: string;
  /**
   * A P2Engine rubric (`rubrics/<id>.jinja`): the file's whole text, byte for byte, which the judge reads in its
   * system prompt. Never rendered: its `{{ }}` and `{% %}` are P2Engine's Jinja, not p2tui's template variables.
   */
  readonly verbatim?: string;
}

const criterionSchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/, 'letters, digits, _ and -, starting with a letter'),
  description: z.string(),
  weight: z.number().min(0).max(1),
});

export const rubricBodySchema = z.strictObject({
  description: z.string().default(''),
  criteria: z.array(criterionSchema),
  /** A template with {{task}}, {{answer}}, {{transcript}}, {{criteria}}, {{agent}}, {{rubric}}. */
  prompt: z.string().min(1).optional(),
});

const rubricFileSchema = rubricBodySchema.extend({
  id: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_-]{0,63}$/)
    .optional(),
});

export type RubricBody = z.output<typeof rubricBodySchema>;

export function makeRubric(
  id: string,
  body: RubricBody & { criteria: readonly Criterion[]; verbatim?: string },
  source: string,
): Rubric {
  const prompt = body.prompt ?? DEFAULT_JUDGE_PROMPT;
  const { verbatim } = body;
  // `verbatim` joins the hash only when there is one, so the versions of YAML and Markdown rubrics stay as they were.
  const version = sha256(
    JSON.stringify({
      criteria: body.criteria.map((c) => [c.id, c.description, c.weight]),
      prompt,
      ...(verbatim === undefined ? {} : { verbatim }),
    }),
  ).slice(0, 12);
  return {
    id,
    description: body.description,
    criteria: body.criteria,
    prompt,
    source,
    version,
    ...(verbatim === undefined ? {} : { verbatim }),
  };
}

/**
 * What the judge reads next to a `.jinja` rubric (the rubric itself goes, verbatim, into the system prompt): the
 * material, and P2Engine's reply contract. Only these p2tui variables are filled; the rubric's text never is.
 */
export const JINJA_JUDGE_PROMPT = `Task given to the agent ({{agent}}):
{{task}}

The agent's final answer:
{{answer}}

What the agent did, step by step:
{{transcript}}

Score the final answer against the rubric, as it says. Answer with JSON only: {"score": <a number from 0.0 to 1.0>, "comment": "<why, in one sentence>"}.`;

/** P2Engine's rubric names (`rubric_library.py`): a file named otherwise could never be looked up. */
const JINJA_NAME = /^[A-Za-z0-9_-]+$/;

/**
 * A P2Engine rubric: one criterion `score` (weight 1), since P2Engine's judge gives one score for the whole text;
 * the text is kept verbatim as the criterion's description and as what the judge reads.
 */
function parseJinjaRubric(text: string, file: string, id: string): Rubric {
  if (!JINJA_NAME.test(id))
    throw new ValidationError(
      'E_RUBRIC',
      [
        {
          file,
          field: 'id',
          message: `'${id}' is not a rubric id: P2Engine's rubric names are letters, digits, _ and -`,
        },
      ],
      'Rename the file to <id>.jinja.',
    );
  const firstLine = text.split(/\r?\n/).find((line) => line.trim() !== '' && !/^\s*\{[#%]/.test(line)) ?? '';
  return makeRubric(
    id,
    {
      description: firstLine.trim(),
      criteria: [{ id: 'score', description: text, weight: 1 }],
      prompt: JINJA_JUDGE_PROMPT,
      verbatim: text,
    },
    file,
  );
}

/** Parses one rubric file (YAML, Markdown with `## Criteria` and an optional `## Prompt`, or P2Engine's `.jinja`). */
export function parseRubricFile(text: string, file: string): Rubric {
  const id = basename(file, extname(file));
  if (/\.md$/i.test(file)) return parseMarkdownRubric(text, file, id);
  if (/\.jinja$/i.test(file)) return parseJinjaRubric(text, file, id);
  const parsed = parseYamlWith(rubricFileSchema, text, file, { code: 'E_RUBRIC', hint: 'Fix the rubric file.' });
  const criteria = parsed.value.criteria.map((c, i) => ({ ...c, ...(lineOf(parsed.locate(['criteria', i])) ?? {}) }));
  return makeRubric(parsed.value.id ?? id, { ...parsed.value, criteria }, file);
}

function lineOf(at: { line: number } | undefined): { line: number } | undefined {
  return at === undefined ? undefined : { line: at.line };
}

/**
 * Markdown rubric:
 *
 *   # Title (ignored)           free text below it is the description
 *   ## Criteria
 *   - relevance (0.5): The answer addresses the task.
 *   ## Prompt                   optional; the rest of the file is the template
 */
function parseMarkdownRubric(text: string, file: string, id: string): Rubric {
  const lines = text.split(/\r?\n/);
  const issues: ValidationIssue[] = [];
  const criteria: Criterion[] = [];
  const description: string[] = [];
  const prompt: string[] = [];
  let section: 'intro' | 'criteria' | 'prompt' | 'other' = 'intro';
  lines.forEach((line, index) => {
    const heading = /^##\s+(.*)$/.exec(line);
    if (heading !== null && section !== 'prompt') {
      const name = heading[1]!.trim().toLowerCase();
      section = name === 'criteria' ? 'criteria' : name === 'prompt' ? 'prompt' : 'other';
      return;
    }
    if (section === 'prompt') return void prompt.push(line);
    if (section === 'intro' && !/^#\s/.test(line)) return void description.push(line);
    if (section !== 'criteria' || line.trim() === '') return;
    const item = /^\s*[-*]\s+([A-Za-z][A-Za-z0-9_-]{0,63})\s*\(\s*(?:weight\s*)?([0-9.]+)\s*\)\s*:?\s*(.*)$/.exec(line);
    if (item === null) {
      issues.push({
        file,
        line: index + 1,
        column: 1,
        field: 'criteria',
        message: `cannot read '${line.trim()}': write '- <id> (<weight>): <description>'`,
      });
      return;
    }
    const weight = Number(item[2]);
    if (!Number.isFinite(weight) || weight < 0 || weight > 1)
      issues.push({
        file,
        line: index + 1,
        column: 1,
        field: `criteria.${item[1]}`,
        message: `weight ${item[2]} is not between 0 and 1`,
      });
    criteria.push({ id: item[1]!, weight, description: item[3]!.trim(), line: index + 1 });
  });
  if (issues.length > 0) throw new ValidationError('E_RUBRIC', issues, 'Fix the rubric file.');
  const template = prompt.join('\n').trim();
  return makeRubric(
    id,
    { description: description.join('\n').trim(), criteria, ...(template === '' ? {} : { prompt: template }) },
    file,
  );
}

/** The files of `rubrics/` that are rubrics. */
export const RUBRIC_FILE = /\.(ya?ml|md|jinja)$/i;

/** Every rubric of a workspace's `rubrics/` folder, by id; a file that does not parse is reported, not skipped. */
export function loadRubrics(root: string): Map<string, Rubric> {
  const dir = join(root, 'rubrics');
  const rubrics = new Map<string, Rubric>();
  if (!existsSync(dir)) return rubrics;
  for (const name of readdirSync(dir).sort()) {
    if (!RUBRIC_FILE.test(name)) continue;
    const file = join(dir, name);
    const rubric = parseRubricFile(readFileSync(file, 'utf8'), relative(root, file));
    const clash = rubrics.get(rubric.id);
    if (clash !== undefined) {
      throw new ValidationError(
        'E_RUBRIC',
        [{ file: rubric.source, field: 'id', message: `rubric '${rubric.id}' is also defined in ${clash.source}` }],
        'Give each rubric its own id (file name).',
      );
    }
    rubrics.set(rubric.id, rubric);
  }
  return rubrics;
}

/** What `rubrics lint` reports: weights that do not sum to 1, empty criteria, unknown template variables. */
export function lintRubric(rubric: Rubric): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const at = (c?: Criterion): { file: string; line?: number } => ({
    file: rubric.source,
    ...(c?.line === undefined ? {} : { line: c.line }),
  });
  if (rubric.verbatim !== undefined && rubric.verbatim.trim() === '')
    return [{ ...at(), field: 'text', message: 'the rubric is empty: the judge would not know what to score' }];
  if (rubric.criteria.length === 0) issues.push({ ...at(), field: 'criteria', message: 'the rubric has no criteria' });
  const total = rubric.criteria.reduce((sum, c) => sum + c.weight, 0);
  if (rubric.criteria.length > 0 && Math.abs(total - 1) > 1e-6) {
    issues.push({
      ...at(),
      field: 'criteria',
      message: `weights sum to ${Number(total.toFixed(6))}, not 1 (${rubric.criteria.map((c) => `${c.id} ${c.weight}`).join(', ')})`,
    });
  }
  const seen = new Set<string>();
  for (const c of rubric.criteria) {
    if (c.description.trim() === '')
      issues.push({
        ...at(c),
        field: `criteria.${c.id}`,
        message: 'the criterion has no description: the judge would not know what to score',
      });
    if (c.weight === 0)
      issues.push({ ...at(c), field: `criteria.${c.id}`, message: 'weight 0: the criterion never counts' });
    if (seen.has(c.id))
      issues.push({ ...at(c), field: `criteria.${c.id}`, message: `criterion '${c.id}' appears twice` });
    seen.add(c.id);
  }
  for (const variable of templateVariables(rubric.prompt)) {
    if (!(PROMPT_VARIABLES as readonly string[]).includes(variable)) {
      issues.push({
        ...at(),
        field: 'prompt',
        message: `unknown variable {{${variable}}}; the judge fills ${PROMPT_VARIABLES.map((v) => `{{${v}}}`).join(', ')}`,
      });
    }
  }
  return issues;
}

export function templateVariables(template: string): string[] {
  return [...template.matchAll(/\{\{\s*([^}\s]+)\s*\}\}/g)].map((m) => m[1]!);
}

/** Fills a template's known variables (unknown ones stay as written: lint reports them). */
export function renderTemplate(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{\{\s*([^}\s]+)\s*\}\}/g, (whole, name: string) => values[name] ?? whole);
}
