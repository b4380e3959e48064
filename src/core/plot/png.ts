/**
 * PNG through resvg. resvg has no built-in font: it loads the system's fonts (fontconfig
 * directories such as /usr/share/fonts) and falls back to any face it found for an unmatched
 * family. On a machine with no fonts at all the PNG is still produced, with lines and bars but
 * without text; `pngTextRenders()` says which case applies, and `svgToPng` accepts font files or
 * directories.
 */
import {createRequire} from 'node:module';

import {PldrError} from '../errors.js';
import {esc, FONT_FAMILY} from './svg.js';

export interface PngOptions {
  /** Output width in pixels (height follows the aspect ratio); default the SVG's own width. */
  width?: number;
  /** Extra fonts for the text; system fonts are loaded too unless `loadSystemFonts` is false. */
  fontFiles?: string[];
  fontDirs?: string[];
  loadSystemFonts?: boolean;
  /** Default white. */
  background?: string;
}

interface ResvgModule {
  Resvg: new (
    svg: string,
    options?: {
      fitTo?: {mode: 'original'} | {mode: 'width'; value: number};
      background?: string;
      font?: {loadSystemFonts?: boolean; fontFiles?: string[]; fontDirs?: string[]};
      logLevel?: 'off' | 'error' | 'warn';
    },
  ) => {render(): {asPng(): Uint8Array; pixels: Uint8Array; width: number; height: number}};
}

const requireCjs = createRequire(import.meta.url);
let resvg: ResvgModule | undefined;

/** resvg is a native addon: loaded on first use, so that importing this module stays cheap. */
function loadResvg(): ResvgModule {
  if (!resvg) {
    try {
      resvg = requireCjs('@resvg/resvg-js') as ResvgModule;
    } catch (e) {
      throw new PldrError(`cannot load @resvg/resvg-js for PNG output (${(e as Error).message}); write SVG instead`);
    }
  }
  return resvg;
}

function resvgOptions(opts: PngOptions) {
  return {
    background: opts.background ?? '#ffffff',
    font: {
      loadSystemFonts: opts.loadSystemFonts ?? true,
      ...(opts.fontFiles ? {fontFiles: opts.fontFiles} : {}),
      ...(opts.fontDirs ? {fontDirs: opts.fontDirs} : {}),
    },
    logLevel: 'off' as const,
  };
}

/** Rasterises an SVG to PNG bytes with resvg; `width` scales it (height follows). */
export function svgToPng(svg: string, opts: PngOptions = {}): Uint8Array {
  if (opts.width !== undefined && !(Number.isInteger(opts.width) && opts.width >= 1 && opts.width <= 20000)) {
    throw new PldrError(`PNG width must be an integer from 1 to 20000, got ${opts.width}`);
  }
  const {Resvg} = loadResvg();
  let png: Uint8Array;
  try {
    const r = new Resvg(svg, {
      ...resvgOptions(opts),
      fitTo: opts.width !== undefined ? {mode: 'width', value: opts.width} : {mode: 'original'},
    });
    png = r.render().asPng();
  } catch (e) {
    throw new PldrError(`cannot render the chart to PNG: ${(e as Error).message}`);
  }
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

const textRenders = new Map<string, boolean>();

/**
 * Whether resvg finds a font here, i.e. whether PNGs carry their text (true where the system has
 * any font resvg can load, or with `fontFiles`/`fontDirs`). Renders a word once and looks for ink.
 */
export function pngTextRenders(opts: Pick<PngOptions, 'fontFiles' | 'fontDirs' | 'loadSystemFonts'> = {}): boolean {
  const key = JSON.stringify([opts.fontFiles ?? [], opts.fontDirs ?? [], opts.loadSystemFonts ?? true]);
  const hit = textRenders.get(key);
  if (hit !== undefined) return hit;
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="80" height="30">` +
    `<text x="4" y="22" font-size="18" font-family="${esc(FONT_FAMILY)}" fill="#000000">Hg1</text></svg>`;
  const {Resvg} = loadResvg();
  const px = new Resvg(svg, resvgOptions(opts)).render().pixels;
  let ink = false;
  for (let i = 0; i < px.length; i += 4) {
    if (px[i]! < 128) {
      ink = true;
      break;
    }
  }
  textRenders.set(key, ink);
  return ink;
}
