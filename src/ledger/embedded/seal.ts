import { sha256 } from '../../core/hash.ts';
import type { AuditRow, LedgerRepository, SealRow } from '../../store/ledger.ts';
import type { Offset } from '../types.ts';
import { mac, type LedgerKey } from './key.ts';

/**
 * The keyed part of the audit chain. Each update has a MAC of its offset and hash (the hash covers its content and
 * the previous hash, so the MAC vouches for everything before it); the seal is one MAC over the newest offset ever
 * written, its hash and the newest verdict. Without the key, neither can be made again for an altered database.
 */

export function updateMac(key: LedgerKey, offset: Offset, hash: string): string {
  return mac(key, `p2tui-ledger/update-mac/v1\n${offset}\n${hash}`);
}

/** What the seal keeps of a verdict: all of it (an edited verdict no longer matches). */
export function auditDigest(a: AuditRow | undefined): string {
  return a === undefined
    ? 'none'
    : sha256(`${a.id}\n${a.offset}\n${a.hash}\n${a.ok}\n${a.reason ?? ''}\n${a.verified_at}`);
}

export function makeSeal(key: LedgerKey, high: { offset: Offset; hash: string }, audit: AuditRow | undefined): SealRow {
  return sealOf(key, high, { id: audit?.id ?? 0, digest: auditDigest(audit) });
}

/** A seal from the newest verdict's id and digest (as an earlier seal kept them). */
export function sealOf(
  key: LedgerKey,
  high: { offset: Offset; hash: string },
  audit: { id: number; digest: string },
): SealRow {
  const row = {
    key_id: key.id,
    high_offset: high.offset,
    high_hash: high.hash,
    audit_id: audit.id,
    audit_digest: audit.digest,
  };
  return { ...row, mac: sealMac(key, row) };
}

function sealMac(key: LedgerKey, s: Omit<SealRow, 'mac'>): string {
  return mac(
    key,
    `p2tui-ledger/seal/v1\n${s.key_id}\n${s.high_offset}\n${s.high_hash}\n${s.audit_id}\n${s.audit_digest}`,
  );
}

/**
 * Why the seal does not vouch for the database as it is (its offset, or the newest one), or undefined: it was made
 * with another key or altered, the newest verdict is not the sealed one (a failed verdict removed), or the newest
 * update is not the sealed one (removed, added or rewritten without the key).
 */
export function sealBreak(
  repo: LedgerRepository,
  key: LedgerKey,
  seal: SealRow,
): { reason: string; firstBad: Offset } | undefined {
  if (seal.key_id !== key.id)
    return {
      firstBad: seal.high_offset,
      reason: `the chain was sealed with another key (id ${seal.key_id}) than the one in force (id ${key.id}, from ${key.source})`,
    };
  const { mac: stored, ...rest } = seal;
  if (sealMac(key, rest) !== stored)
    return { firstBad: seal.high_offset, reason: 'the seal of the chain was altered (it does not match the key)' };
  const audit = repo.latestAudit();
  if ((audit?.id ?? 0) !== seal.audit_id || auditDigest(audit) !== seal.audit_digest)
    return {
      firstBad: audit?.offset ?? seal.high_offset,
      reason: `the newest verdict is not the one sealed (verdict ${seal.audit_id} was removed or edited)`,
    };
  const head = repo.head() ?? { offset: 0, hash: '' };
  if (head.offset < seal.high_offset)
    return {
      firstBad: seal.high_offset,
      reason: `the ledger ends at offset ${head.offset}, before offset ${seal.high_offset} it reached (the newest updates were removed)`,
    };
  if (head.offset > seal.high_offset)
    return {
      firstBad: seal.high_offset + 1,
      reason: `updates after offset ${seal.high_offset} were added without the key`,
    };
  if (head.offset > 0 && head.hash !== seal.high_hash)
    return {
      firstBad: head.offset,
      reason: `the newest update (offset ${head.offset}) was rewritten: its hash is not the one sealed`,
    };
  return undefined;
}
