import { describe, expect, it } from 'vitest';
import { formatUsd, measuredText, roundMeasured } from '../../src/core/money.ts';

describe('money as people and files read it', () => {
  it('shows costs under a cent with two significant digits, never $0.0000', () => {
    expect(formatUsd(0.0000453)).toBe('$0.000045');
    expect(formatUsd(0.0023)).toBe('$0.0023');
    expect(formatUsd(0.0161)).toBe('$0.0161');
    expect(formatUsd(0)).toBe('$0');
    expect(formatUsd(4.5e-7)).toBe('$0.00000045');
  });

  it('writes measured sums without float noise, and without an exponent in text', () => {
    const sum = 0.0000151 + 0.0000151 + 0.0000151;
    expect(String(sum)).toBe('0.000045299999999999997');
    expect(measuredText(sum)).toBe('0.0000453');
    expect(JSON.stringify(roundMeasured(sum))).toBe('0.0000453');
    expect(measuredText(4.53e-7)).toBe('0.000000453');
    expect(measuredText(239)).toBe('239');
  });
});
