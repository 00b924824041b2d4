import { existsSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { UserError, fileFailureOf } from '../../core/errors.ts';
import { makeFolder } from '../../core/folders.ts';
import { isFile } from './source.ts';
import type { MigrationPlan, PlannedFile } from './plan.ts';
import { escapeRegExp } from '../../models/scripted/language.ts';

/*
 * Writing a migration plan: all or nothing. Every planned file is compared with what the workspace has before
 * anything is written, so a refused run (a differing file without --force, a persona id defined twice) writes none.
 */

export type FileStatus =
  /** Not in the workspace yet: written (or, in a dry run, would be). */
  | 'new'
  /** The workspace has it with the same bytes: left as it is. */
  | 'unchanged'
  /** The workspace has it with other bytes: refused without --force, overwritten with it. */
  | 'differs';

export interface FileOutcome {
  readonly from: string;
  readonly to: string;
  readonly status: FileStatus;
  /** Whether this run wrote it. */
  readonly written: boolean;
}

export interface Outcome {
  readonly files: FileOutcome[];
  /** In a dry run: why a real run (with the same --force) would be refused, if it would. */
  readonly refusal: string | undefined;
  readonly written: number;
  readonly unchanged: number;
  readonly overwritten: number;
}

/** Compares the plan with the workspace and, unless `dryRun`, writes what is new (and what differs, with force). */
export function applyPlan(plan: MigrationPlan, out: string, options: { dryRun: boolean; force: boolean }): Outcome {
  const compared = plan.files.map((file) => ({ file, status: statusOf(file, out) }));
  const refusal = clashes(plan, out, compared, options.force);
  if (refusal !== undefined && !options.dryRun) throw refusal;
  const files: FileOutcome[] = [];
  for (const { file, status } of compared) {
    const write = !options.dryRun && (status === 'new' || (status === 'differs' && options.force));
    if (write) writeFile(join(out, file.to), file.content);
    files.push({ from: file.from, to: file.to, status, written: write });
  }
  return {
    files,
    refusal: refusal?.message,
    written: files.filter((f) => f.written).length,
    unchanged: files.filter((f) => f.status === 'unchanged').length,
    overwritten: files.filter((f) => f.written && f.status === 'differs').length,
  };
}

function statusOf(file: PlannedFile, out: string): FileStatus {
  const path = join(out, file.to);
  if (!existsSync(path)) return 'new';
  try {
    return isFile(path) && readFileSync(path).equals(file.content) ? 'unchanged' : 'differs';
  } catch {
    // A file the migration cannot even read is one it must not overwrite unasked.
    return 'differs';
  }
}

/**
 * The refusal, decided before anything is written: files that differ (unless --force), and persona ids another file
 * of the workspace defines too (two files with one id leave that agent unavailable, and --force would not remove the
 * other one).
 */
function clashes(
  plan: MigrationPlan,
  out: string,
  compared: readonly { file: PlannedFile; status: FileStatus }[],
  force: boolean,
): UserError | undefined {
  const twin = otherPersonaFiles(out);
  const twins = plan.personas.flatMap((id) => twin(id).map((other) => `${other} (agent ${id})`));
  if (twins.length > 0) {
    return new UserError(
      'E_MIGRATE_CONFLICT',
      `migrate: the workspace ${out} already defines agents the migration would write: ${twins.join(', ')}; ` +
        'nothing was written',
      {
        hint:
          'Two files with one agent id leave that agent unavailable: move those files away, or migrate into ' +
          'another folder with --out <dir>.',
      },
    );
  }
  const differing = compared.filter((c) => c.status === 'differs').map((c) => c.file.to);
  if (differing.length > 0 && !force) {
    return new UserError(
      'E_MIGRATE_CONFLICT',
      `migrate: ${differing.length} file${differing.length === 1 ? '' : 's'} of ${out} differ from what the migration ` +
        `would write: ${differing.join(', ')}; nothing was written`,
      {
        hint: 'Add --force to overwrite them, or migrate into another folder with --out <dir>; --dry-run shows the report.',
      },
    );
  }
  return undefined;
}

/**
 * Persona files of the workspace, other than `personas/<id>.yaml`, with an id (by name, or agents.yml's list): the
 * folder and agents.yml read once for every id asked about.
 */
function otherPersonaFiles(out: string): (id: string) => string[] {
  const dir = join(out, 'personas');
  const names = existsSync(dir) ? readdirSync(dir) : [];
  // A p2tui workspace reads config/agents.yml as personas too: the same id there is a second definition.
  const agentsYml = join(out, 'config', 'agents.yml');
  const listed = isFile(agentsYml) ? readFileSync(agentsYml, 'utf8') : undefined;
  return (id) => {
    const twins = names
      .filter((n) => n !== `${id}.yaml` && (n === `${id}.yml` || n === `${id}.md`))
      .map((n) => `personas/${n}`);
    if (listed !== undefined && new RegExp(`^\\s*-?\\s*id:\\s*["']?${escapeRegExp(id)}["']?\\s*$`, 'm').test(listed))
      twins.push('config/agents.yml');
    return twins;
  };
}

/** Writes through a temporary file and a rename, so an interrupted run leaves no half-written file. */
function writeFile(path: string, content: Buffer): void {
  const temporary = `${path}.p2tui-migrate.tmp`;
  try {
    makeFolder(dirname(path));
    writeFileSync(temporary, content);
    renameSync(temporary, path);
  } catch (error) {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // The write's own error says what is wrong with the folder; a leftover temporary file is the lesser matter.
    }
    throw fileFailureOf(error, `migrate: cannot write ${path}`) ?? error;
  }
}
