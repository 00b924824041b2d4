import { z } from 'zod';
import { UserError } from '../core/errors.ts';
import { ARGS_IN_ARTIFACT } from './calls.ts';
import {
  BUNDLE_FORMAT,
  BUNDLE_HEAD,
  BUNDLE_ROWS,
  BUNDLE_SECTIONS,
  BUNDLE_VERSION,
  OPTIONAL_SECTIONS,
  idSchema,
  type BundleRow,
  type BundleSection,
  type BundleTable,
} from './bundle-rows.ts';

/**
 * Every check of a bundle that needs no database, row by row as the rows arrive (from a file being streamed or
 * from memory): the head, each row against its table's schema, that it belongs to the bundle's session, ids unique
 * within the bundle, references to rows the bundle holds, JSON columns that parse, events in the log's order,
 * artifacts' bytes against their hash. The first problem throws E_BUNDLE_INVALID naming the array, row and column.
 */

const HINT = 'Export it again with p2tui session export; a bundle edited by hand is refused.';
/** One artifact's bytes (held once, decoded, while it is checked and written). */
export const MAX_ARTIFACT_BYTES = 1024 * 1024 * 1024;

export function bundleInvalid(file: string, where: string, message: string): UserError {
  return new UserError('E_BUNDLE_INVALID', `${file}: ${where}: ${message}`, {
    hint: HINT,
    location: { file, field: where },
  });
}

/** A key or value from the file in a message: quoted, escaped, cut short. */
export function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

type Shape = 'object' | 'array' | 'any';
/** Text columns that hold JSON (readers parse them: one that does not parse would crash `session show`). */
const JSON_COLUMNS: { readonly [T in BundleTable]?: Readonly<Record<string, Shape>> } = {
  events: { payload: 'object' },
  sessions: { options: 'object' },
  branches: { overrides: 'object', segments: 'array' },
  model_calls: { request: 'object', response: 'any' },
  intents: { args: 'any', result: 'any' },
  artifact_refs: { meta: 'object' },
  scores: { criteria: 'array' },
};

const segmentsSchema = z.array(
  z.strictObject({ branch: idSchema, maxSeq: z.number().int().min(0), afterSeq: z.number().int().min(0).optional() }),
);

/** The columns that make a row unique (its primary key). */
const KEYS: Readonly<Record<BundleTable, readonly string[]>> = {
  events: ['id'],
  sessions: ['id'],
  branches: ['id'],
  branch_segments: ['branch_id', 'ancestor_id'],
  conversations: ['id'],
  heads: ['branch_id', 'conversation_id'],
  model_calls: ['id'],
  intents: ['key'],
  artifacts: ['hash'],
  artifact_refs: ['id'],
  eval_jobs: ['id'],
  scores: ['id'],
  mcp_listings: ['server'],
};

/** Columns naming a row of an earlier array of the bundle (NULL: none). */
const REFS: { readonly [T in BundleTable]?: readonly (readonly [string, BundleTable])[] } = {
  branch_segments: [
    ['branch_id', 'branches'],
    ['ancestor_id', 'branches'],
  ],
  conversations: [['branch_id', 'branches']],
  heads: [
    ['branch_id', 'branches'],
    ['conversation_id', 'conversations'],
  ],
  events: [
    ['branch_id', 'branches'],
    ['conversation_id', 'conversations'],
  ],
  model_calls: [
    ['branch_id', 'branches'],
    ['conversation_id', 'conversations'],
  ],
  intents: [
    ['branch_id', 'branches'],
    ['conversation_id', 'conversations'],
    ['entry_id', 'events'],
  ],
  artifact_refs: [
    ['hash', 'artifacts'],
    ['branch_id', 'branches'],
    ['conversation_id', 'conversations'],
    ['entry_id', 'events'],
  ],
  eval_jobs: [['branch_id', 'branches']],
  scores: [
    ['job_id', 'eval_jobs'],
    ['branch_id', 'branches'],
  ],
};

const SECTION_ORDER = Object.keys(BUNDLE_SECTIONS) as BundleSection[];

export class BundleChecker {
  readonly file: string;
  private readonly keys = new Set<string>();
  private sessionRow: BundleRow<'sessions'> | undefined;
  private stage = -1;
  private lastSeq = 0;
  private readonly ids = new Map<BundleTable, Set<string>>();
  /** References that may point forward (to a later row of the same array, or from the session row). */
  private readonly later: { where: string; id: string; table: BundleTable }[] = [];

  constructor(file: string) {
    this.file = file;
  }

  private invalid(where: string, message: string): never {
    throw bundleInvalid(this.file, where, message);
  }

  get sessionId(): string {
    return this.sessionRow?.id ?? this.invalid('session', 'missing');
  }

  count(table: BundleTable): number {
    return this.ids.get(table)?.size ?? 0;
  }

  /** A key of the bundle's object, and what its value is: the keys come in the exporter's order, each once. */
  key(key: string, kind: string): void {
    if (key === '(bundle)') {
      if (kind !== 'object') this.invalid('(bundle)', `not a p2tui session bundle (a JSON ${kind}, not an object)`);
      return;
    }
    if (this.keys.size === 0 && key !== 'format')
      this.invalid('(bundle)', `not a p2tui session bundle (it must begin with "format": "${BUNDLE_FORMAT}")`);
    if (this.keys.has(key)) this.invalid(key, 'appears twice');
    this.keys.add(key);
    if ((BUNDLE_HEAD as readonly string[]).includes(key)) {
      if (this.sessionRow !== undefined)
        this.invalid(key, 'comes after the session; keys must be in the order p2tui session export writes them');
      return;
    }
    if (key === 'session') {
      if (!this.keys.has('version')) this.invalid('session', 'comes before "version"');
      return;
    }
    const stage = SECTION_ORDER.indexOf(key as BundleSection);
    if (stage === -1) this.invalid(quote(key), 'unknown key');
    if (this.sessionRow === undefined) this.invalid(key, 'comes before the session row');
    if (stage < this.stage)
      this.invalid(
        key,
        `comes after "${SECTION_ORDER[this.stage]}"; keys must be in the order p2tui session export writes them`,
      );
    this.stage = stage;
    if (kind !== 'array')
      this.invalid(key, `expected an array of rows, got ${kind === 'object' ? 'an object' : `a ${kind}`}`);
  }

  head(key: (typeof BUNDLE_HEAD)[number], value: unknown): unknown {
    if (key === 'format') {
      if (value !== BUNDLE_FORMAT) this.invalid('format', `${quote(value)}: not a p2tui session bundle`);
    } else if (key === 'version') {
      if (typeof value === 'number' && Number.isInteger(value) && value > BUNDLE_VERSION) {
        throw new UserError(
          'E_DB_NEWER_SCHEMA',
          `${this.file} is bundle version ${value}; this p2tui reads up to version ${BUNDLE_VERSION}`,
          {
            hint: 'Upgrade p2tui to import it.',
          },
        );
      }
      if (value !== BUNDLE_VERSION)
        this.invalid(
          'version',
          `${quote(value)} is not a bundle version; this p2tui reads version ${BUNDLE_VERSION} (the number ${BUNDLE_VERSION})`,
        );
    } else if (typeof value !== 'string' || value.length > 200)
      this.invalid(key, 'expected text of at most 200 characters');
    return value;
  }

  session(value: unknown): BundleRow<'sessions'> {
    const row = this.parse('sessions', 'session', value);
    this.sessionRow = row;
    this.later.push({ where: 'session.root_conversation', id: row.root_conversation, table: 'conversations' });
    this.later.push({ where: 'session.head_branch', id: row.head_branch, table: 'branches' });
    return row;
  }

  row<S extends BundleSection>(section: S, index: number, value: unknown): BundleRow<(typeof BUNDLE_SECTIONS)[S]> {
    const table = BUNDLE_SECTIONS[section];
    const where = `${section}[${index}]`;
    const row = this.parse(table, where, value) as Record<string, unknown>;
    if ('session_id' in row && row['session_id'] !== this.sessionId)
      this.invalid(`${where}.session_id`, `${quote(row['session_id'])} is not the bundle's session ${this.sessionId}`);
    for (const [column, target] of REFS[table] ?? []) {
      const ref = row[column];
      if (typeof ref === 'string' && !this.known(target, ref))
        this.invalid(`${where}.${column}`, `${quote(ref)} is not a row of "${target}" in this bundle`);
    }
    if (table === 'events') {
      const seq = row['seq'] as number;
      if (seq <= this.lastSeq)
        this.invalid(
          `${where}.seq`,
          `${seq} is not after the previous event's ${this.lastSeq}: events must be in the log's order`,
        );
      this.lastSeq = seq;
    }
    if (table === 'branches') {
      if (typeof row['parent_id'] === 'string')
        this.later.push({ where: `${where}.parent_id`, id: row['parent_id'], table: 'branches' });
      if (typeof row['segments'] === 'string') {
        const segments = segmentsSchema.safeParse(JSON.parse(row['segments']));
        if (!segments.success) this.invalid(`${where}.segments`, describe(segments.error));
        for (const s of segments.data) this.later.push({ where: `${where}.segments`, id: s.branch, table: 'branches' });
      }
    }
    if (table === 'conversations' && typeof row['parent_id'] === 'string')
      this.later.push({ where: `${where}.parent_id`, id: row['parent_id'], table: 'conversations' });
    this.remember(table, where, row);
    return row as BundleRow<(typeof BUNDLE_SECTIONS)[S]>;
  }

  /**
   * An artifact's columns (without `data`), and what its bytes hashed to (undefined: no valid base64 was given).
   * Content-addressed: bytes that do not hash to their name could poison a database that does not have them yet.
   */
  artifact(
    index: number,
    value: Record<string, unknown>,
    bytes: { sha256: string; length: number } | undefined,
  ): Omit<BundleRow<'artifacts'>, 'data'> {
    const where = `artifacts[${index}]`;
    if (bytes === undefined) this.invalid(`${where}.data`, 'expected the bytes as base64 text');
    const row = this.parse('artifacts', where, { ...value, data: '' });
    if (bytes.sha256 !== row.hash)
      this.invalid(`${where}.data`, `artifact ${row.hash} does not hold the bytes its hash names`);
    if (row.size !== bytes.length)
      this.invalid(`${where}.size`, `declares ${row.size} bytes; data holds ${bytes.length}`);
    this.remember('artifacts', where, row);
    const { data: _data, ...rest } = row;
    return rest;
  }

  /** Whether an earlier artifact of the bundle has this hash. */
  hasArtifact(hash: string): boolean {
    return this.known('artifacts', hash);
  }

  /** The bundle is complete: every array it must have, and references that could point forward. */
  end(): void {
    for (const key of [...BUNDLE_HEAD, 'session', ...SECTION_ORDER.filter((s) => !OPTIONAL_SECTIONS.includes(s))])
      if (!this.keys.has(key)) this.invalid(key, 'missing');
    for (const ref of this.later)
      if (!this.known(ref.table, ref.id))
        this.invalid(ref.where, `${quote(ref.id)} is not a row of "${ref.table}" in this bundle`);
  }

  private known(table: BundleTable, id: string): boolean {
    return this.ids.get(table)?.has(id) === true;
  }

  private remember(table: BundleTable, where: string, row: Record<string, unknown>): void {
    const key = KEYS[table].map((c) => String(row[c])).join(' ');
    let seen = this.ids.get(table);
    if (seen === undefined) this.ids.set(table, (seen = new Set()));
    if (seen.has(key)) this.invalid(`${where}.${KEYS[table].join('+')}`, `${quote(key)} appears twice in the bundle`);
    seen.add(key);
  }

  private parse<T extends BundleTable>(table: T, where: string, value: unknown): BundleRow<T> {
    const parsed = BUNDLE_ROWS[table].safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      this.invalid(
        where + issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join(''),
        describe(parsed.error),
      );
    }
    const row = parsed.data as Record<string, unknown>;
    for (const [column, shape] of Object.entries(JSON_COLUMNS[table] ?? {})) {
      const text = row[column];
      if (typeof text !== 'string') continue;
      // Large arguments are kept once, as an artifact the intent names (not JSON): it must come with the bundle.
      if (table === 'intents' && column === 'args' && text.startsWith(ARGS_IN_ARTIFACT)) {
        const hash = text.slice(ARGS_IN_ARTIFACT.length);
        if (!/^[0-9a-f]{64}$/.test(hash)) this.invalid(`${where}.args`, `${quote(text)} names no artifact`);
        this.later.push({ where: `${where}.args`, id: hash, table: 'artifacts' });
        continue;
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        this.invalid(`${where}.${column}`, `not valid JSON (${(error as Error).message})`);
      }
      const ok =
        shape === 'any' ||
        (shape === 'array' ? Array.isArray(json) : json !== null && typeof json === 'object' && !Array.isArray(json));
      if (!ok) this.invalid(`${where}.${column}`, `expected JSON ${shape === 'array' ? 'an array' : 'an object'}`);
    }
    return parsed.data as BundleRow<T>;
  }
}

/** The first problem zod found, in the words the CLI prints. */
function describe(error: z.ZodError): string {
  const issue = error.issues[0]!;
  if (issue.code === 'unrecognized_keys') return `unknown column ${issue.keys.map(quote).join(', ')}`;
  return issue.message;
}
