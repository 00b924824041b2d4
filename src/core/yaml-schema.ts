import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import type { z } from 'zod';
import { ValidationError, type ErrorCode, type ValidationIssue } from './errors.ts';

/**
 * Parses YAML text and validates it with a zod schema. Every problem (a YAML syntax error or a schema issue) names
 * the file, the line and column of the offending node, and the dotted field path.
 */
export interface ParsedYaml<T> {
  readonly value: T;
  /** Line and column of a field path, for issues found after parsing (cross-file references). */
  locate(path: readonly (string | number)[]): { line: number; column: number } | undefined;
}

/** How many alias (*name) expansions a file may need; more is a resource exhaustion attack, not configuration. */
const MAX_ALIAS_EXPANSIONS = 100;

export function parseYamlWith<S extends z.ZodType>(
  schema: S,
  text: string,
  file: string,
  options: { code?: ErrorCode; lineOffset?: number; hint?: string } = {},
): ParsedYaml<z.output<S>> {
  const code = options.code ?? 'E_CONFIG';
  const lineOffset = options.lineOffset ?? 0;
  const counter = new LineCounter();
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, uniqueKeys: true });
  // The parser reports errors of an unfinished file (an unclosed quote or bracket) at its very end, which after the
  // final newline is a line the file does not have: point at the end of the last line with text instead.
  const lastText = text.trimEnd().length;
  const position = (offset: number): { line: number; column: number } => {
    const pos = counter.linePos(Math.min(offset, lastText));
    return { line: pos.line + lineOffset, column: pos.col };
  };
  if (doc.errors.length > 0) {
    const issues = doc.errors.map((e) => ({
      file,
      ...position(e.pos[0]),
      field: '',
      message: `YAML syntax: ${e.message.split('\n')[0]}`,
    }));
    throw new ValidationError(code, issues, 'Fix the YAML syntax at that line.');
  }
  const locate = (path: readonly (string | number)[]): { line: number; column: number } | undefined => {
    // Walk as deep as the path exists; a missing key points at its parent.
    let node: unknown = doc.contents;
    let best: Node | undefined = isNodeWithRange(node) ? node : undefined;
    for (const key of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
        if (pair === undefined) break;
        node = pair.value ?? pair.key;
        if (isNodeWithRange(pair.key) && (pair.value === null || pair.value === undefined)) best = pair.key;
      } else if (isSeq(node) && typeof key === 'number') {
        node = node.items[key];
      } else break;
      if (isNodeWithRange(node)) best = node;
    }
    return best?.range === undefined || best.range === null ? undefined : position(best.range[0]);
  };
  let raw: unknown;
  try {
    // Aliases are expanded here; the yaml library refuses more than 100 alias expansions (a "billion laughs"
    // document that would take all memory), which is the file's fault, not p2tui's.
    raw = doc.toJS({ maxAliasCount: MAX_ALIAS_EXPANSIONS }) ?? {};
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const tooMany = /alias/i.test(message);
    throw new ValidationError(
      code,
      [
        {
          file,
          ...position(0),
          field: '',
          message: tooMany
            ? `YAML aliases expand to too many nodes (more than ${MAX_ALIAS_EXPANSIONS} expansions, as in an alias bomb); refused`
            : `YAML: ${message.split('\n')[0]!.slice(0, 200)}`,
        },
      ],
      tooMany ? 'Write the values out instead of nesting aliases (*name) of aliases.' : 'Fix the YAML at that line.',
    );
  }
  const result = schema.safeParse(raw, { reportInput: true });
  if (!result.success) {
    const issues: ValidationIssue[] = result.error.issues.map((issue) => {
      const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      return { file, ...locate(path), field: formatPath(path), message: describeIssue(issue) };
    });
    throw new ValidationError(code, issues, options.hint);
  }
  return { value: result.data as z.output<S>, locate };
}

function isNodeWithRange(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && 'range' in value;
}

export function formatPath(path: readonly (string | number)[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return `is required (${issue.expected})`;
  // A value of the wrong type: say what was found, not only what was expected.
  if (issue.code === 'invalid_type') {
    const expected =
      issue.expected === 'int' ? 'a whole number' : `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    // JSON escapes control characters; a long value (a whole list, a pasted file) is cut.
    const got = JSON.stringify(issue.input) ?? String(issue.input);
    return `must be ${expected}, got ${got.length > 80 ? `${got.slice(0, 80)}…` : got}`;
  }
  return issue.message;
}
