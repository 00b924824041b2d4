import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { UserError } from '../../core/errors.ts';
import { OPERATOR_HINT } from '../templates.ts';
import type { PartyId } from '../types.ts';

/**
 * The bearer tokens `ledger serve` accepts, kept in `<state folder>/ledger-serve.tokens` (mode 0600). Each names the
 * parties it may act as and read for: `*` (every party, and allocating new ones: the operator's, which runs the
 * whole workspace's wallets), a party hint (`agent-alpha`: the party allocated under it), a hint prefix ending in `*`
 * (`agent-r1-c2.*`: one rollout cell's parties), or a full party id.
 */
export const TOKENS_FILE = 'ledger-serve.tokens';

const tokenSchema = z.object({
  name: z.string().min(1),
  token: z.string().min(24),
  actAs: z.array(z.string().min(1)).min(1),
});
const fileSchema = z.object({ version: z.literal(1), tokens: z.array(tokenSchema).min(1) });

export type ServeToken = z.infer<typeof tokenSchema>;

function newToken(): string {
  return `p2tui_${randomBytes(32).toString('base64url')}`;
}

/**
 * The tokens of the file, written on first start: one for the operator (`*`) and one per agent (its own party
 * only). An existing file is read as it is (edit it to add a token per rollout cell scope, then restart) and kept
 * at mode 0600.
 */
export function loadOrCreateTokens(
  file: string,
  agents: readonly string[],
): { tokens: ServeToken[]; created: boolean } {
  if (!existsSync(file)) {
    const tokens: ServeToken[] = [
      { name: 'operator', token: newToken(), actAs: ['*'] },
      ...agents.map((a) => ({ name: `agent ${a}`, token: newToken(), actAs: [`agent-${a}`] })),
    ];
    try {
      // 'wx': two servers starting at once do not overwrite each other's tokens.
      writeFileSync(file, `${JSON.stringify({ version: 1, tokens }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      return { tokens, created: true };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new UserError('E_CONFIG', `cannot write ${file}: ${(error as Error).message}`, {
          hint: 'ledger serve keeps its tokens in the state folder; make it writable.',
        });
    }
  }
  // Readable by others (copied, restored from a backup): tightened before the tokens are trusted.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    parsed = undefined;
  }
  const result = fileSchema.safeParse(parsed);
  if (!result.success)
    throw new UserError('E_CONFIG', `${file} is not a ledger serve tokens file`, {
      hint: `Fix it ({"version":1,"tokens":[{"name","token","actAs":[…]}]}), or delete it to have new tokens written.`,
    });
  return { tokens: result.data.tokens, created: false };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/** The token an `Authorization: Bearer …` header carries, compared in constant time; undefined if none matches. */
export function tokenOf(tokens: readonly ServeToken[], header: string | undefined): ServeToken | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (match === null) return undefined;
  const presented = digest(match[1]!);
  let found: ServeToken | undefined;
  for (const t of tokens) if (timingSafeEqual(digest(t.token), presented)) found ??= t;
  return found;
}

/** Whether a token may act as (and read for) a party. */
export function mayActAs(token: ServeToken, party: PartyId): boolean {
  const hint = party.split('::')[0]!;
  return token.actAs.some((rule) => {
    if (rule === '*') return true;
    if (rule.endsWith('*')) return hint.startsWith(rule.slice(0, -1));
    return rule.includes('::') ? rule === party : rule === hint;
  });
}

/** Whether a token may act as every party (allocate parties, read across parties): the operator's. */
export function isOperatorToken(token: ServeToken): boolean {
  return token.actAs.includes('*');
}

/** The operator's token of a file (what `ledger.canton.token_env` names for the workspace's own wallets). */
export function operatorToken(tokens: readonly ServeToken[]): ServeToken | undefined {
  return tokens.find(isOperatorToken) ?? tokens.find((t) => t.actAs.includes(OPERATOR_HINT));
}
