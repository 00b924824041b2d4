import { UserError } from '../core/errors.ts';

/**
 * Exact decimals, as Daml's `Numeric 10`: a canonical string with up to 10 fractional digits, computed as a BigInt of
 * ten-billionths. Money never goes through a floating-point number.
 */
export type Decimal = string;

const SCALE = 10;
const FACTOR = 10n ** BigInt(SCALE);
const PATTERN = /^-?\d{1,28}(\.\d{1,10})?$/;

/** Parses a user's or a payload's amount; `what` names it in the error. */
export function parseDecimal(text: string | number, what = 'amount'): bigint {
  const raw = typeof text === 'number' ? numberText(text) : text.trim();
  if (!PATTERN.test(raw)) {
    throw new UserError(
      'E_USAGE',
      `${what} '${raw}' is not a decimal of at most 28 digits before the point and 10 after it`,
      { hint: 'Write it like 12.5 or 0.0000000001 (quote large amounts in YAML).' },
    );
  }
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
 * A number from YAML (`balance: 100`) as decimal text. What a double cannot hold exactly (an integer past 2^53, an
 * exponent) comes back as written, so the pattern refuses it: write such amounts as strings ("12345678901234567890").
 */
function numberText(n: number): string {
  if (Number.isInteger(n) && !Number.isSafeInteger(n))
    return `${String(n)} (too large to be exact as a number; quote it)`;
  return String(n);
}

export const decimal = {
  add: (a: Decimal, b: Decimal): Decimal => formatDecimal(parseDecimal(a) + parseDecimal(b)),
  sub: (a: Decimal, b: Decimal): Decimal => formatDecimal(parseDecimal(a) - parseDecimal(b)),
  cmp: (a: Decimal, b: Decimal): number => {
    const d = parseDecimal(a) - parseDecimal(b);
    return d < 0n ? -1 : d > 0n ? 1 : 0;
  },
  canonical: (a: string | number, what?: string): Decimal => formatDecimal(parseDecimal(a, what)),
  isPositive: (a: Decimal): boolean => parseDecimal(a) > 0n,
  sum: (values: readonly Decimal[]): Decimal => formatDecimal(values.reduce((n, v) => n + parseDecimal(v), 0n)),
};
