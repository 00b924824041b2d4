import { UserError } from '../core/errors.ts';

/**
 * Exact decimals, as Daml's `Numeric 10`: a canonical string with up to 10 fractional digits, computed as a BigInt of
 * ten-billionths. Money never goes through a floating-point number.
 */
export type Decimal = string;

const SCALE = 10;
const FACTOR = 10n ** BigInt(SCALE);
/** Daml's `Numeric 10` holds 38 digits, 10 of them after the point: at most 28 before it. */
export const NUMERIC_WHOLE_DIGITS = 28;
const LIMIT = 10n ** BigInt(NUMERIC_WHOLE_DIGITS) * FACTOR;
const PATTERN = /^-?\d{1,28}(\.\d{1,10})?$/;
/** What sums of stored amounts look like: any number of digits before the point (a balance is not a Daml value). */
const SUM_PATTERN = /^-?\d+(\.\d{1,10})?$/;

/** Parses a user's or a payload's amount; `what` names it in the error. */
export function parseDecimal(text: string | number, what = 'amount'): bigint {
  const raw = typeof text === 'number' ? numberText(text) : text.trim();
  if (!PATTERN.test(raw)) {
    const whole = /^-?(\d+)(\.\d{1,10})?$/.exec(raw)?.[1];
    if (whole !== undefined)
      throw new UserError(
        'E_USAGE',
        `${what} '${raw}' has ${whole.length} digits before the point; Daml's Numeric 10 holds at most ${NUMERIC_WHOLE_DIGITS}`,
        { hint: 'Use a smaller amount.' },
      );
    throw new UserError(
      'E_USAGE',
      `${what} '${raw}' is not a decimal of at most 28 digits before the point and 10 after it`,
      { hint: 'Write it like 12.5 or 0.0000000001 (quote large amounts in YAML).' },
    );
  }
  return unitsOf(raw);
}

/** A sum's units: its digits before the point are not limited (what wallets hold together may exceed one value). */
function parseSum(text: string): bigint {
  const raw = text.trim();
  if (!SUM_PATTERN.test(raw)) return parseDecimal(raw);
  return unitsOf(raw);
}

function unitsOf(raw: string): bigint {
  const negative = raw.startsWith('-');
  const [whole, fraction = ''] = (negative ? raw.slice(1) : raw).split('.');
  const units = BigInt(whole!) * FACTOR + BigInt(fraction.padEnd(SCALE, '0'));
  return negative ? -units : units;
}

/** Canonical text: no trailing zeros, no exponent (`12.5`, `0.0000000001`, `100`). */
export function formatDecimal(units: bigint): Decimal {
  const negative = units < 0n;
  const abs = negative ? -units : units;
  const whole = abs / FACTOR;
  const fraction = (abs % FACTOR).toString().padStart(SCALE, '0').replace(/0+$/, '');
  return `${negative ? '-' : ''}${whole}${fraction === '' ? '' : `.${fraction}`}`;
}

/**
 * Why a value cannot be one Daml `Numeric 10` (a holding, a balance a payment spends, the money issued), or
 * undefined when it fits: `would make <what> <value> (29 digits before the point); Daml's Numeric 10 holds at most 28`.
 */
export function numericOverflow(what: string, units: bigint): string | undefined {
  const abs = units < 0n ? -units : units;
  if (abs < LIMIT) return undefined;
  const digits = (abs / FACTOR).toString().length;
  return (
    `would make ${what} ${formatDecimal(units)} (${digits} digits before the point); ` +
    `Daml's Numeric 10 holds at most ${NUMERIC_WHOLE_DIGITS}`
  );
}

/**
 * A number from YAML (`balance: 100`) as decimal text. What a double cannot hold exactly (an integer past 2^53, an
 * exponent) comes back as written, so the pattern refuses it: write such amounts as strings ("12345678901234567890").
 */
function numberText(n: number): string {
  if (Number.isInteger(n) && !Number.isSafeInteger(n))
    return `${String(n)} (too large to be exact as a number; quote it)`;
  return String(n);
}

/**
 * Arithmetic on amounts and on sums of them. Sums are not limited to 28 digits before the point: a wallet's
 * balance or the money issued read from a ledger that holds more (written before the limits, or by another client)
 * is shown as it is instead of failing the command that reads it.
 */
export const decimal = {
  add: (a: Decimal, b: Decimal): Decimal => formatDecimal(parseSum(a) + parseSum(b)),
  sub: (a: Decimal, b: Decimal): Decimal => formatDecimal(parseSum(a) - parseSum(b)),
  cmp: (a: Decimal, b: Decimal): number => {
    const d = parseSum(a) - parseSum(b);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  },
  canonical: (a: string | number, what?: string): Decimal => formatDecimal(parseDecimal(a, what)),
  isPositive: (a: Decimal): boolean => parseSum(a) > 0n,
  sum: (values: readonly Decimal[]): Decimal => formatDecimal(values.reduce((n, v) => n + parseSum(v), 0n)),
  units: (a: Decimal): bigint => parseSum(a),
};
