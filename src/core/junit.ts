import { randomBytes } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * JUnit XML for CI (`--junit <file>` of `rollout run` and `eval run`): the Ant format GitHub, GitLab and Jenkins read,
 * valid against the Ant JUnit XSD (test/fixtures/junit/JUnit.xsd): every attribute and element that schema requires
 * is written, the timestamp without a zone (its pattern has none; it is UTC). Everything in it may come from a model,
 * a tool or a user, so every text is escaped and characters XML 1.0 cannot carry become U+FFFD.
 */

export interface JunitCase {
  /** Test case name (a cell: its scenario and seed; a gate: `gate <variant> <metric> >= <value>`). */
  readonly name: string;
  /** Dotted, so CI UIs group by it: `rollout.<team>.<variant>`, `eval.<evaluator>`. */
  readonly classname: string;
  readonly seconds: number;
  /** Failed: the one-line message, a type, and the whole text. Skipped: why. */
  readonly failure?: { readonly message: string; readonly type: string; readonly text: string };
  readonly skipped?: string;
}

export interface JunitSuite {
  readonly name: string;
  /** The Ant schema's `package` of an aggregated suite (the rollout or session it came from). */
  readonly pkg: string;
  /** When the suite started (ms since the epoch). */
  readonly startedAt: number;
  readonly properties: Readonly<Record<string, string>>;
  readonly cases: readonly JunitCase[];
}

/**
 * Characters XML 1.0 does not allow (C0 controls but tab, LF and CR; lone surrogates; U+FFFE and U+FFFF), which no
 * escape can carry: replaced, so that a model's bytes never make the file unreadable.
 */
const ILLEGAL =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A gate's measured mean as its failure message gives it: `mean 0.412 (95% CI 0.3 to 0.52, n 6)`, three decimals. */
export function meanText(s: {
  readonly mean: number;
  readonly ci: readonly [number, number] | null;
  readonly n: number;
}): string {
  const figure = (n: number): string => String(Math.round(n * 1000) / 1000);
  return `mean ${figure(s.mean)}${s.ci === null ? ` (one value, n ${s.n})` : ` (95% CI ${figure(s.ci[0])} to ${figure(s.ci[1])}, n ${s.n})`}`;
}

/** Text as XML character data: `&`, `<` and `>` escaped (so `]]>` cannot end anything), illegal characters replaced. */
export function xmlText(text: string): string {
  return text.replace(ILLEGAL, '\uFFFD').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Text as an attribute value in double quotes; tabs and line breaks as references (a parser would fold them). */
export function xmlAttr(text: string): string {
  return xmlText(text).replace(/"/g, '&quot;').replace(/\t/g, '&#9;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;');
}

/** Seconds with millisecond precision, as xs:decimal (never negative, never an exponent). */
function seconds(s: number): string {
  return (Number.isFinite(s) && s > 0 ? s : 0).toFixed(3);
}

/** `2026-12-08T03:20:59`: UTC, no fraction, no zone (the schema's pattern). */
function timestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

function caseXml(c: JunitCase): string {
  const open = `    <testcase name="${xmlAttr(c.name)}" classname="${xmlAttr(c.classname)}" time="${seconds(c.seconds)}"`;
  if (c.failure !== undefined)
    return (
      `${open}>\n      <failure message="${xmlAttr(c.failure.message)}" type="${xmlAttr(c.failure.type)}">` +
      `${xmlText(c.failure.text)}</failure>\n    </testcase>`
    );
  if (c.skipped !== undefined) return `${open}>\n      <skipped message="${xmlAttr(c.skipped)}"/>\n    </testcase>`;
  return `${open}/>`;
}

/** The document: one `<testsuites>` holding the suites in order. */
export function junitXml(suites: readonly JunitSuite[], hostname: string): string {
  const host = hostname.trim() === '' ? 'localhost' : hostname;
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<testsuites>'];
  suites.forEach((s, id) => {
    const failures = s.cases.filter((c) => c.failure !== undefined).length;
    const skipped = s.cases.filter((c) => c.skipped !== undefined).length;
    const time = s.cases.reduce((a, c) => a + (Number.isFinite(c.seconds) && c.seconds > 0 ? c.seconds : 0), 0);
    lines.push(
      `  <testsuite name="${xmlAttr(s.name)}" package="${xmlAttr(s.pkg)}" id="${id}" timestamp="${timestamp(s.startedAt)}" ` +
        `hostname="${xmlAttr(host)}" tests="${s.cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(time)}">`,
      '    <properties>',
      ...Object.entries(s.properties).map(([k, v]) => `      <property name="${xmlAttr(k)}" value="${xmlAttr(v)}"/>`),
      '    </properties>',
      ...s.cases.map(caseXml),
      '    <system-out/>',
      '    <system-err/>',
      '  </testsuite>',
    );
  });
  lines.push('</testsuites>', '');
  return lines.join('\n');
}

/**
 * Writes the file whole or not at all: a temporary file beside it, then a rename, so a CI step never reads half a
 * report (and a report from an earlier run is replaced only by a complete one). Errors are the caller's to map.
 */
export function writeAtomically(file: string, text: string): void {
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, file);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
