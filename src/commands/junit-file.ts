import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { fileFailureOf } from '../core/errors.ts';
import { junitXml, writeAtomically, type JunitSuite } from '../core/junit.ts';
import type { OptionDef } from './define.ts';
import { checkOutPath } from './shared.ts';

/** `--junit <file>` of `rollout run` (start, resume) and `eval run`. */
export const JUNIT_OPTION = {
  type: 'string',
  value: '<file>',
  description: 'Also write the results as JUnit XML there (for CI), written whole even when the run fails',
} as const satisfies OptionDef;

/**
 * Refuses a --junit path that cannot be written before any cell runs or judge is asked (a missing folder, a folder
 * named as the file, a folder this user may not write): exit 6 (E_FILE_*), as for every file the user names. The
 * report is most useful when the run fails, so finding out then that it cannot be written would be too late.
 */
export function checkJunitPath(path: string): string {
  const file = checkOutPath(path);
  try {
    accessSync(dirname(file), constants.W_OK);
  } catch (error) {
    throw fileFailureOf(error, `cannot write ${path}`) ?? error;
  }
  return file;
}

/** Writes the report (temporary file, then rename); a disk that refuses it is the file's error (E_FILE_*). */
export function writeJunit(path: string, suites: readonly JunitSuite[]): void {
  const file = checkJunitPath(path);
  try {
    writeAtomically(file, junitXml(suites, hostname()));
  } catch (error) {
    throw fileFailureOf(error, `cannot write ${path}`) ?? error;
  }
}
