import { statSync } from 'node:fs';
import { UserError, messageOf } from '../core/errors.ts';
import { MAX_ARTIFACT_BYTES, bundleInvalid } from './bundle-check.ts';
import { JsonFileReader } from './bundle-json.ts';
import { BUNDLE_HEAD, type BundleSection, type BundleSink } from './bundle-rows.ts';

/**
 * Streams a bundle file into `sink` (the importer) row by row: memory holds one row at a time, and an artifact's
 * decoded bytes, never the file, its text or its object tree. Syntax errors name the byte and the row being read.
 */
export function readBundleFile(path: string, file: string, sink: BundleSink): void {
  let where = '(bundle)';
  let reader: JsonFileReader;
  try {
    if (!statSync(path).isFile()) throw new Error('not a file');
    reader = new JsonFileReader(path, (message) => {
      throw bundleInvalid(file, where, message);
    });
  } catch (error) {
    throw new UserError('E_USAGE', `cannot read ${file}: ${messageOf(error)}`, {
      hint: 'Give a file written by p2tui session export.',
    });
  }
  try {
    sink.key('(bundle)', reader.kind());
    reader.beginObject();
    for (let key = reader.nextKey(); key !== undefined; key = reader.nextKey()) {
      where = key;
      sink.key(key, reader.kind());
      if ((BUNDLE_HEAD as readonly string[]).includes(key))
        sink.head(key as (typeof BUNDLE_HEAD)[number], reader.readValue());
      else if (key === 'session') sink.session(reader.readValue());
      else {
        const section = key as BundleSection;
        reader.beginArray();
        for (let i = 0; reader.nextElement(); i++) {
          where = `${section}[${i}]`;
          if (section !== 'artifacts' || reader.kind() !== 'object') sink.row(section, i, reader.readValue());
          else {
            const row: Record<string, unknown> = {};
            let given = false;
            reader.beginObject();
            for (let column = reader.nextKey(); column !== undefined; column = reader.nextKey()) {
              where = `artifacts[${i}].${column}`;
              if (Object.hasOwn(row, column) || (column === 'data' && given))
                throw bundleInvalid(file, where, 'appears twice in one row');
              if (column === 'data') {
                reader.readBase64(sink.artifactData(i, row), MAX_ARTIFACT_BYTES);
                given = true;
              } else {
                const value = reader.readValue();
                Object.defineProperty(row, column, { value, enumerable: true, writable: true, configurable: true });
              }
            }
            where = `artifacts[${i}]`;
            sink.artifact(i, row, given);
          }
        }
      }
      where = '(bundle)';
    }
    reader.finish();
    sink.end();
  } finally {
    reader.close();
  }
}
