/**
 * Money and other measured decimals as people and files read them. A model call costs a few millionths of a dollar,
 * so a fixed four decimals printed `$0.0000` for most calls; and sums of doubles carry float noise into exports
 * (`0.000045299999999999997`) that nobody wrote.
 */

/**
 * Dollars for a person: `$0`, four decimals from a cent up (`$0.0161`), and below a cent two significant digits
 * (`$0.0023`, `$0.000045`), so a cheap call never shows as nothing.
 */
export function formatUsd(usd: number): string {
  if (!Number.isFinite(usd)) return `$${String(usd)}`;
  if (usd === 0) return '$0';
  const abs = Math.abs(usd);
  if (abs >= 0.01) return `$${usd.toFixed(4)}`;
  // Two significant digits: the first non-zero decimal and the one after it (capped: toFixed takes at most 100).
  const decimals = Math.min(100, 1 - Math.floor(Math.log10(abs)));
  return `$${usd.toFixed(decimals)}`;
}

/**
 * A measured double without the noise its arithmetic added: 12 significant digits hold every cost and latency
 * exactly as recorded, and drop what sums of doubles invent (from the 16th digit on).
 */
export function roundMeasured(n: number): number {
  return Number.isFinite(n) && n !== 0 ? Number(n.toPrecision(12)) : n;
}

/** `roundMeasured` as decimal text without an exponent, for CSV: `0.0000453`, `0.000000453`, `12.5`. */
export function measuredText(n: number): string {
  const r = roundMeasured(n);
  const text = String(r);
  if (!/e/i.test(text)) return text;
  // Below 1e-6 (or from 1e21 up) String writes an exponent; write the digits out instead.
  const abs = Math.abs(r);
  if (abs >= 1) return BigInt(Math.round(r)).toString();
  const decimals = Math.min(100, 11 - Math.floor(Math.log10(abs)));
  return r.toFixed(decimals).replace(/0+$/, '');
}
