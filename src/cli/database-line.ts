/**
 * The database p2tui.yaml names, read by line. Reading the file as the workspace does (the YAML parser and the
 * config's schema: some 170 modules) took most of `p2tui session list`'s start, for one field. The line form is
 * read only when it is certain to mean what the YAML parser would make of it; anything else gives `undefined`, and
 * the caller reads the file in full.
 */

/** YAML 1.2 core-schema plain scalars that are not strings (the config's schema refuses them as a database path). */
const NOT_A_STRING = [
  /^(~|null|Null|NULL|true|True|TRUE|false|False|FALSE)$/,
  /^[-+]?[0-9]+$/,
  /^0o[0-7]+$/,
  /^0x[0-9a-fA-F]+$/,
  /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/,
  /^[-+]?\.(inf|Inf|INF)$/,
  /^\.(nan|NaN|NAN)$/,
];

/**
 * `null`: the file does not name a database (the default applies); a string: the path its one top-level
 * `database:` line gives, as a plain or quoted scalar without escapes; `undefined`: only the YAML parser can tell.
 */
export function databaseLine(text: string): string | null | undefined {
  // Directives and several documents change how the file reads; a backslash could spell the key in an escape.
  if (/^(%|---|\.\.\.)/m.test(text)) return undefined;
  const mentions = text.split('database').length - 1;
  if (mentions === 0) return text.includes('\\') ? undefined : null;
  if (mentions > 1) return undefined;
  const line =
    /^database:[ ]+(?:'([^'\n]+)'|"([^"\\\n]+)"|([A-Za-z0-9._/~][A-Za-z0-9._/~+=,@ -]*?))(?:[ ]+#.*|[ ]*)$/m.exec(text);
  if (line === null) return undefined;
  const value = line[1] ?? line[2] ?? line[3];
  if (value === undefined || value.trim() !== value) return undefined;
  if (line[3] !== undefined && NOT_A_STRING.some((re) => re.test(value))) return undefined;
  // An indented line after it would continue the value (or be an error): the parser's to read.
  const after = text
    .slice(line.index + line[0].length)
    .split('\n')
    .slice(1);
  const next = after.find((l) => l.trim() !== '');
  if (next !== undefined && /^\s/.test(next) && !next.trim().startsWith('#')) return undefined;
  return value;
}
