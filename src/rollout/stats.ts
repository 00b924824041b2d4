/**
 * The statistics a rollout reports: per variant the mean, standard deviation, a 95% confidence interval and n; against
 * the baseline, the paired difference over matched scenarios and seeds with its interval; and cells whose repeats
 * spread too much to trust one run of them (flaky).
 */

export interface Summary {
  readonly n: number;
  readonly mean: number | null;
  readonly sd: number | null;
  /** 95% confidence interval of the mean (Student's t), null below two values. */
  readonly ci: readonly [number, number] | null;
}

/** Two-sided 95% critical values of Student's t by degrees of freedom (1–30), then the normal's 1.96. */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11,
  2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

export function t95(df: number): number {
  if (df < 1) return Number.NaN;
  if (df <= 30) return T95[df - 1]!;
  // Beyond the table: the Cornish-Fisher expansion of t around the normal's 1.96 (within 0.001 of the exact value).
  const z = 1.959964;
  return z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2);
}

export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  if (n === 0) return { n, mean: null, sd: null, ci: null };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { n, mean, sd: null, ci: null };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  const half = t95(n - 1) * (sd / Math.sqrt(n));
  return { n, mean, sd, ci: [mean - half, mean + half] };
}

export interface PairedDiff extends Summary {
  /** Pairs matched (same team, scenario and seed in both variants). */
  readonly pairs: number;
  /** The interval excludes 0: the difference is unlikely to be noise at the 5% level. */
  readonly significant: boolean;
}

/** Mean of (variant − baseline) over matched keys, with a 95% interval of that mean. */
export function pairedDiff(variant: ReadonlyMap<string, number>, baseline: ReadonlyMap<string, number>): PairedDiff {
  const diffs: number[] = [];
  for (const [key, v] of variant) {
    const b = baseline.get(key);
    if (b !== undefined) diffs.push(v - b);
  }
  const s = summarize(diffs);
  return { ...s, pairs: diffs.length, significant: s.ci !== null && (s.ci[0] > 0 || s.ci[1] < 0) };
}

/** Difference of two independent means (Welch), for rollouts whose cells do not match one to one. */
export function welchDiff(a: readonly number[], b: readonly number[]): Summary & { significant: boolean } {
  const sa = summarize(a);
  const sb = summarize(b);
  if (sa.mean === null || sb.mean === null)
    return { n: Math.min(a.length, b.length), mean: null, sd: null, ci: null, significant: false };
  const mean = sa.mean - sb.mean;
  if (sa.sd === null || sb.sd === null)
    return { n: Math.min(a.length, b.length), mean, sd: null, ci: null, significant: false };
  const va = sa.sd ** 2 / a.length;
  const vb = sb.sd ** 2 / b.length;
  const se = Math.sqrt(va + vb);
  if (se === 0) return { n: Math.min(a.length, b.length), mean, sd: 0, ci: [mean, mean], significant: mean !== 0 };
  const df = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
  const half = t95(Math.max(1, Math.floor(df))) * se;
  return {
    n: Math.min(a.length, b.length),
    mean,
    sd: null,
    ci: [mean - half, mean + half],
    significant: mean - half > 0 || mean + half < 0,
  };
}

/** Repeats of one (variant, scenario) disagree: their scores span more than `threshold` (0..1 scores). */
export function isFlaky(values: readonly number[], threshold = 0.3): boolean {
  if (values.length < 2) return false;
  return Math.max(...values) - Math.min(...values) > threshold;
}

/** `0.72 ± 0.05` (half the interval), or the mean alone, or `–`. */
export function formatMeanCi(s: Summary, digits = 2): string {
  if (s.mean === null) return '–';
  if (s.ci === null) return s.mean.toFixed(digits);
  return `${s.mean.toFixed(digits)} ± ${((s.ci[1] - s.ci[0]) / 2).toFixed(digits)}`;
}
