import type { JsonValue } from '../core/json.ts';

/**
 * A model's tool arguments parsed as JSON, refusing numbers a double does not hold as written: `1e309` (Infinity,
 * which the store would keep as null while the tool got Infinity) and `9007199254740993` or `123456789.123456789`
 * (rounded to …992 and …12345679, so a payment would silently move another amount). Node's JSON.parse hands a
 * reviver the source text of each number (`context.source`), which is compared with the number as a decimal.
 */
export type ParsedArguments =
  { readonly ok: true; readonly value: JsonValue } | { readonly ok: false; readonly error: string } | undefined;

/** undefined: not JSON; `ok: false`: a number that is not exact, with the refusal the model reads. */
export function parseArguments(text: string): ParsedArguments {
  let refusal: string | undefined;
  let value: JsonValue;
  try {
    value = JSON.parse(text, function (this: unknown, key: string, parsed: unknown, context?: { source?: string }) {
      // Without the source (a Node before 21) a rounded number cannot be told, Infinity still can.
      if (refusal === undefined && typeof parsed === 'number')
        refusal = inexact(key, context?.source ?? String(parsed), parsed);
      return parsed;
    }) as JsonValue;
  } catch {
    return undefined;
  }
  return refusal === undefined ? { ok: true, value } : { ok: false, error: refusal };
}

/** Why a number written as `source` does not arrive as written, or undefined. */
function inexact(key: string, source: string, parsed: number): string | undefined {
  const where = key === '' ? 'the arguments' : `argument ${JSON.stringify(key)}`;
  if (!Number.isFinite(parsed))
    return (
      `invalid arguments: ${where}: the number ${source.slice(0, 40)} is out of range (it would arrive as ${parsed}); ` +
      'send a finite number, or the value as a string'
    );
  if (sameDecimal(source, String(parsed))) return undefined;
  return (
    `invalid arguments: ${where}: the number ${source.slice(0, 60)} cannot be held exactly as a JSON number (it would ` +
    `arrive as ${parsed}); send it as a string, e.g. "${source.slice(0, 60)}", or with fewer digits`
  );
}

/** Whether two JSON number texts denote the same decimal value (`1.50` and `1.5e0` do; `0.1` and `0.10000001` do not). */
function sameDecimal(a: string, b: string): boolean {
  const x = normal(a);
  const y = normal(b);
  return x !== undefined && y !== undefined && x.sign === y.sign && x.digits === y.digits && x.exponent === y.exponent;
}

function normal(text: string): { sign: string; digits: string; exponent: number } | undefined {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (m === null) return undefined;
  const fraction = m[3] ?? '';
  let digits = `${m[2]}${fraction}`.replace(/^0+/, '');
  let exponent = Number(m[4] ?? '0') - fraction.length;
  if (digits === '') return { sign: '', digits: '0', exponent: 0 };
  const trailing = digits.length - digits.replace(/0+$/, '').length;
  digits = digits.slice(0, digits.length - trailing);
  exponent += trailing;
  return { sign: m[1]!, digits, exponent };
}
