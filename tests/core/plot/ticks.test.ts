import {describe, expect, it} from 'vitest';

import {formatTick, logTicks, niceDomain, niceStep, niceTicks} from '../../../src/core/plot/ticks.js';

describe('nice ticks', () => {
  it('picks 1-2-5 steps', () => {
    expect(niceStep(3.8, 5)).toBe(1);
    expect(niceStep(1, 5)).toBe(0.2);
    expect(niceStep(10000, 5)).toBe(2000);
    expect(niceStep(0.04, 5)).toBe(0.01);
    expect(niceStep(8, 5)).toBe(2);
    expect(niceStep(7, 5)).toBe(1); // 1.4 per part: 1 is nearer than 2 (geometrically)
    expect(niceStep(2.3, 5)).toBe(0.5);
  });

  it('gives ticks inside a range', () => {
    expect(niceTicks(0.5, 4.3)).toMatchObject({step: 1, ticks: [1, 2, 3, 4]});
    expect(niceTicks(0.5, 4.3, 8).ticks).toEqual([0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4]);
    expect(niceTicks(0, 1).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0, 10000).ticks).toEqual([0, 2000, 4000, 6000, 8000, 10000]);
    expect(niceTicks(-3, 3).ticks).toEqual([-3, -2, -1, 0, 1, 2, 3]);
    expect(niceTicks(0.1, 0.7).ticks).toEqual([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]); // no 0.30000000000000004
    expect(niceTicks(4.3, 0.5).ticks).toEqual([1, 2, 3, 4]); // reversed bounds
  });

  it('widens a single value and bad bounds', () => {
    const t = niceTicks(2.5, 2.5);
    expect(t.min).toBeLessThan(2.5);
    expect(t.max).toBeGreaterThan(2.5);
    expect(t.ticks.length).toBeGreaterThanOrEqual(2);
    expect(niceTicks(0, 0).ticks).toContain(0);
    expect(niceTicks(NaN, Infinity).ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('extends a domain to whole steps', () => {
    expect(niceDomain(0.5, 4.3)).toEqual({min: 0, max: 5, step: 1, ticks: [0, 1, 2, 3, 4, 5]});
    expect(niceDomain(0.03, 0.97)).toMatchObject({min: 0, max: 1, step: 0.2});
    expect(niceDomain(-0.7, 2.2)).toMatchObject({min: -1, max: 2.5, step: 0.5});
  });

  it('puts log ticks on powers of ten', () => {
    const t = logTicks(0.003, 42);
    expect(t.ticks).toEqual([0.001, 0.01, 0.1, 1, 10, 100]);
    expect(t.min).toBe(0.001);
    expect(t.max).toBe(100);
    expect(t.minor).toContain(0.002);
    expect(t.minor).toContain(50);
    expect(logTicks(2, 8).ticks).toEqual([1, 10]);
    const wide = logTicks(1e-12, 1e12);
    expect(wide.ticks.length).toBeLessThanOrEqual(9);
    for (const v of wide.ticks) expect(Math.abs(Math.log10(v) - Math.round(Math.log10(v)))).toBeLessThan(1e-9);
  });

  it('formats tick labels', () => {
    expect(formatTick(1.5, 0.5)).toBe('1.5');
    expect(formatTick(2, 0.5)).toBe('2.0');
    expect(formatTick(4000, 2000)).toBe('4000');
    expect(formatTick(0.3, 0.1)).toBe('0.3');
    expect(formatTick(1e-5)).toBe('1e-5');
    expect(formatTick(2.5e6)).toBe('2.5e6');
    expect(formatTick(0.001)).toBe('0.001');
    expect(formatTick(-0.00000000001, 0.5)).toBe('-1e-11');
  });
});
