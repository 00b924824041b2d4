import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileFailureOf } from '../../core/errors.ts';
import { writeAtomically } from '../../core/junit.ts';
import type { OptionDef } from '../define.ts';
import { checkOutPath } from '../shared.ts';
import type { CommandContext } from '../types.ts';

/** `--out` and `--open` of `report rollout` and `report session`. */
export const REPORT_OPTIONS = {
  out: {
    type: 'string',
    value: '<file>',
    description: 'Write the report here (default: reports/<id>.html in the state folder, next to the database)',
  },
  open: { type: 'boolean', description: 'Open the report in the default browser ($BROWSER if set)' },
} as const satisfies Record<string, OptionDef>;

/** Where a report goes: --out as given, else `<state folder>/reports/<id>.html` (the folder made if missing). */
export function reportPath(out: string | undefined, dbPath: string, id: string): string {
  if (out !== undefined) return checkOutPath(out);
  const folder = join(dirname(dbPath), 'reports');
  try {
    mkdirSync(folder, { recursive: true });
  } catch (error) {
    throw fileFailureOf(error, `cannot make ${folder}`) ?? error;
  }
  return join(folder, `${id}.html`);
}

/** The whole page at once (a temporary file, then rename): a reader never sees half a report. */
export function writeReport(file: string, page: string): void {
  try {
    writeAtomically(file, page);
  } catch (error) {
    throw fileFailureOf(error, `cannot write ${file}`) ?? error;
  }
}

/**
 * Hands the file to the browser: $BROWSER (the convention xdg-utils and Python's webbrowser share), else the
 * platform's opener. The report is written either way, so a machine without a browser gets a notice, not a failure.
 */
export async function openReport(ctx: CommandContext, file: string): Promise<void> {
  const browser = process.env['BROWSER']?.trim();
  const [command, args] =
    browser !== undefined && browser !== ''
      ? [browser, [file]]
      : process.platform === 'darwin'
        ? ['open', [file]]
        : process.platform === 'win32'
          ? ['cmd', ['/c', 'start', '""', file]]
          : ['xdg-open', [file]];
  const notice = (why: string): void =>
    ctx.output.warn(`could not open a browser (${command}: ${why}); open ${file} yourself`);
  // Wait until the browser has started or failed to: the process may exit right after, and a failure said later
  // would be lost.
  await new Promise<void>((resolve) => {
    try {
      const child = spawn(command, args, { detached: true, stdio: 'ignore', shell: false });
      child.once('spawn', () => {
        child.unref();
        resolve();
      });
      child.once('error', (error: NodeJS.ErrnoException) => {
        notice(error.code ?? error.message);
        resolve();
      });
    } catch (error) {
      notice(error instanceof Error ? error.message : String(error));
      resolve();
    }
  });
}
