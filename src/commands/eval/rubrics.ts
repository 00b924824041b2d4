import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError, formatIssue, messageOf, type ValidationIssue } from '../../core/errors.ts';
import type { JsonValue } from '../../core/json.ts';
import type { Rubric } from '../../judge/rubric.ts';
import { defineCommand } from '../define.ts';
import { paint, table } from '../render/text.ts';
import { EXIT } from '../types.ts';

/** Rubric files of a workspace, each parsed on its own so one broken file does not hide the others' problems. */
async function readRubricFiles(root: string): Promise<{ file: string; rubric?: Rubric; issues: ValidationIssue[] }[]> {
  const dir = join(root, 'rubrics');
  if (!existsSync(dir)) return [];
  // The rubric parser pulls in the YAML library: loaded only when a rubrics command runs.
  const { lintRubric, parseRubricFile } = await import('../../judge/rubric.ts');
  return (
    readdirSync(dir)
      // The same files as RUBRIC_FILE of src/judge/rubric.ts (written out: that module is loaded only when needed).
      .filter((n) => /\.(ya?ml|md|jinja)$/i.test(n))
      .sort()
      .map((name) => {
        const file = `rubrics/${name}`;
        try {
          const rubric = parseRubricFile(readFileSync(join(dir, name), 'utf8'), file);
          return { file, rubric, issues: lintRubric(rubric) };
        } catch (error) {
          return {
            file,
            issues:
              error instanceof ValidationError ? [...error.issues] : [{ file, field: '', message: messageOf(error) }],
          };
        }
      })
  );
}

export const rubricsListCommand = defineCommand({
  path: ['rubrics', 'list'],
  summary: 'The rubrics of rubrics/: criteria, weights, version, and the evaluators that use them',
  async run(ctx) {
    const files = await readRubricFiles(ctx.workspaceDir);
    let users = new Map<string, string[]>();
    try {
      const registry = (await ctx.workspace()).evaluators;
      users = new Map(
        registry
          .list()
          .flatMap((e) => (e.rubric === undefined ? [] : [[e.rubric.id, e.id] as const]))
          .reduce((m, [r, e]) => m.set(r, [...(m.get(r) ?? []), e]), new Map<string, string[]>()),
      );
    } catch {
      // Listing works even when the workspace does not load (rubrics lint says why).
    }
    const json = files.map((f) => ({
      file: f.file,
      id: f.rubric?.id ?? null,
      criteria: (f.rubric?.criteria ?? []).map((c) => ({ id: c.id, weight: c.weight, description: c.description })),
      version: f.rubric?.version ?? null,
      usedBy: f.rubric === undefined ? [] : (users.get(f.rubric.id) ?? []),
      problems: f.issues.length,
    }));
    if (ctx.output.json) return { exitCode: EXIT.ok, json: json as JsonValue };
    if (files.length === 0) {
      ctx.output.line('no rubrics (add rubrics/<id>.yaml, .md or .jinja; see the README, section The judge)');
      return { exitCode: EXIT.ok };
    }
    const rows = json.map((r) => [
      r.id ?? '(unreadable)',
      r.criteria.map((c) => `${c.id} ${c.weight}`).join(', '),
      r.version ?? '',
      r.usedBy.join(', ') || '–',
      r.problems === 0 ? 'ok' : `${r.problems} problem${r.problems === 1 ? '' : 's'}`,
      r.file,
    ]);
    for (const line of table(rows, ['rubric', 'criteria', 'version', 'used by', 'lint', 'file'], ctx.output.color))
      ctx.output.line(line);
    return { exitCode: EXIT.ok };
  },
});

export const rubricsLintCommand = defineCommand({
  path: ['rubrics', 'lint'],
  summary: 'Check rubrics: weights summing to 1, empty criteria, unknown template variables (exit 1 on a problem)',
  async run(ctx) {
    const files = await readRubricFiles(ctx.workspaceDir);
    const issues = files.flatMap((f) => f.issues);
    if (ctx.output.json)
      return {
        exitCode: issues.length === 0 ? EXIT.ok : EXIT.failed,
        json: { files: files.map((f) => f.file), issues: issues.map((i) => ({ ...i })) } as JsonValue,
      };
    for (const issue of issues) ctx.output.line(paint(ctx.output.color, 'red', formatIssue(issue)));
    ctx.output.line(
      issues.length === 0
        ? `${files.length} rubric${files.length === 1 ? '' : 's'} ok`
        : `${issues.length} problem${issues.length === 1 ? '' : 's'} in ${new Set(issues.map((i) => i.file)).size} of ${files.length} rubrics`,
    );
    return { exitCode: issues.length === 0 ? EXIT.ok : EXIT.failed };
  },
});
