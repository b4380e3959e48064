/** What the chart tests share: an XML check, the PNG header, the texts of an SVG, example curves. */
import {expect} from 'vitest';

import type {LineChartSpec} from '../../../src/core/plot/svg.js';

/**
 * A tiny well-formedness check: every tag closes in order, attributes are quoted, no stray
 * '<' or '&' in text. Enough for the SVG this module writes (no comments, CDATA or DOCTYPE).
 */
export function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/y;
  let i = 0;
  let roots = 0;
  while (i < xml.length) {
    const lt = xml.indexOf('<', i);
    const textPart = xml.slice(i, lt < 0 ? xml.length : lt);
    expect(textPart, 'bare & in text').not.toMatch(/&(?!(amp|lt|gt|quot|#\d+);)/);
    if (lt < 0) break;
    tag.lastIndex = lt;
    const m = tag.exec(xml);
    if (!m) throw new Error(`malformed tag at ${lt}: ${xml.slice(lt, lt + 60)}`);
    const [, close, name, , selfClose] = m;
    if (close) {
      expect(stack.pop(), `closing </${name}>`).toBe(name);
    } else if (!selfClose) {
      if (!stack.length) roots++;
      stack.push(name!);
    } else if (!stack.length) roots++;
    i = tag.lastIndex;
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
}

/** Width and height from the IHDR chunk, after checking the PNG signature. */
export function pngSize(png: Uint8Array): {width: number; height: number} {
  expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const v = new DataView(png.buffer, png.byteOffset, png.byteLength);
  expect(String.fromCharCode(...png.subarray(12, 16))).toBe('IHDR');
  return {width: v.getUint32(16), height: v.getUint32(20)};
}

/** Text contents of all <text> elements, unescaped. */
export function texts(svg: string): string[] {
  return [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) =>
    m[1]!
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&'),
  );
}

export function lossCurves(n = 200): LineChartSpec {
  const train: Array<[number, number]> = [];
  const val: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) {
    const step = i * 10;
    train.push([step, 0.6 + 3.7 * Math.exp(-i / 40) + 0.05 * Math.sin(i)]);
    if (i % 20 === 0) val.push([step, 0.7 + 3.6 * Math.exp(-i / 40)]);
  }
  return {
    title: 'Training loss',
    xLabel: 'step',
    yLabel: 'cross-entropy loss',
    series: [
      {name: 'train', points: train},
      {name: 'validation', points: val, dashed: true},
    ],
  };
}
