import { sha256 } from '../core/hash.ts';
import { BundleChecker } from './bundle-check.ts';
import {
  BUNDLE_HEAD,
  BUNDLE_SECTIONS,
  kindOf,
  strictBase64,
  type BundleSection,
  type BundleSink,
  type SessionBundle,
} from './bundle-rows.ts';

/**
 * Reading a bundle held in memory (a worker's result through the queue). A file is streamed instead
 * (bundle-file.ts); both feed the same checks (bundle-check.ts).
 */
export * from './bundle-rows.ts';

/** Bytes handed to the sink at a time (as a file reader would). */
const PIECE = 1 << 20;

/** Feeds a bundle already in memory (a worker's result, a parsed file) to `sink`, in its keys' order. */
export function walkBundle(value: unknown, sink: BundleSink): void {
  sink.key('(bundle)', kindOf(value));
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    sink.key(key, kindOf(v));
    if ((BUNDLE_HEAD as readonly string[]).includes(key)) sink.head(key as (typeof BUNDLE_HEAD)[number], v);
    else if (key === 'session') sink.session(v);
    else {
      const section = key as BundleSection;
      (v as unknown[]).forEach((row, i) => {
        if (section !== 'artifacts' || row === null || typeof row !== 'object') return sink.row(section, i, row);
        const { data, ...rest } = row as Record<string, unknown>;
        const bytes = strictBase64(data);
        if (bytes !== undefined) {
          const each = sink.artifactData(i, rest);
          for (let at = 0; at < bytes.length; at += PIECE) each(bytes.subarray(at, at + PIECE));
        }
        sink.artifact(i, rest, bytes !== undefined);
      });
    }
  }
  sink.end();
}

/**
 * Checks a bundle (parsed JSON from `file`, or a worker's result) before anything is written: the format, a version
 * this code reads, every row against its table's columns, that every row belongs to the bundle's session, ids
 * unique and references to rows of the bundle, JSON columns that parse, artifacts' bytes against their hash.
 * Throws E_BUNDLE_INVALID naming the array, the row and the column.
 */
export function parseBundle(value: unknown, file: string): SessionBundle {
  const checker = new BundleChecker(file);
  const out: Record<string, unknown> = {};
  let pieces: Buffer[] = [];
  walkBundle(value, {
    key: (key, kind) => {
      checker.key(key, kind);
      // Arrays in the bundle's order, so the bundle is walked again (by the importer) in the same order.
      if (Object.hasOwn(BUNDLE_SECTIONS, key)) out[key] = [];
    },
    head: (key, v) => (out[key] = checker.head(key, v)),
    session: (v) => (out['session'] = checker.session(v)),
    row: (section, i, v) => {
      (out[section] as unknown[]).push(checker.row(section, i, v));
    },
    artifactData: () => {
      pieces = [];
      return (piece) => pieces.push(piece);
    },
    artifact: (i, row, given) => {
      const bytes = Buffer.concat(pieces);
      const digest = given ? { sha256: sha256(bytes), length: bytes.length } : undefined;
      (out['artifacts'] as unknown[]).push({ ...checker.artifact(i, row, digest), data: bytes.toString('base64') });
    },
    end: () => checker.end(),
  });
  return out as unknown as SessionBundle;
}
