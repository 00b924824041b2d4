import type { Command } from '../types.ts';
import { evalPairwiseCommand } from './pairwise.ts';
import { rubricsLintCommand, rubricsListCommand } from './rubrics.ts';
import { evalRunCommand } from './run.ts';
import { evalShowCommand } from './show.ts';
import { evalTopCommand } from './top.ts';

/** Judging sessions (eval …) and the rubrics the judge scores with (rubrics …), in the order help lists them. */
export const evalCommands: readonly Command[] = [
  evalRunCommand,
  evalShowCommand,
  evalTopCommand,
  evalPairwiseCommand,
  rubricsListCommand,
  rubricsLintCommand,
];
