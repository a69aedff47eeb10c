/**
 * The memory map as SVG: each region (ION heap, VIO region) drawn as a bar of its blocks in
 * address order, coloured by kind. The same function draws the `--out` map.svg file and
 * the live page (which loads this module as is: it imports nothing, so that a browser can
 * run the compiled file without a build step).
 *
 * Block widths: a heap of hundreds of MiB holds buffers of a few KiB, so a bar in
 * proportion to size would show one free block and hairlines. Every block gets a minimum
 * width, and the rest of the bar is shared in proportion to the square root of its size
 * (the map says so), which keeps the order of sizes visible and every buffer findable; the
 * bar wraps onto more rows when a region has many blocks. A block split by a row end is one `<g class="block">` with two rectangles.
 */

/** How the map colours a block. */
export type MapKind = 'cached' | 'uncached' | 'registered' | 'vio' | 'free';

/** The colour of each kind (also the legend's order). */
export const MAP_COLOURS: Readonly<Record<MapKind, string>> = {
  cached: '#2563eb',
  uncached: '#f59e0b',
  registered: '#9333ea',
  vio: '#059669',
  free: '#d1d5db',
};

/** What the map needs of a dump block (see docs/dump-schema.md). */
export interface MapBlockInput {
  /** `registration`: a native dump's registration, drawn as registered memory. */
  kind: 'allocation' | 'vio' | 'free' | 'registration';
  phyAddr: string;
  /** Bytes the block spans (its width follows them). */
  blockBytes: number;
  /** Bytes asked for; null for free blocks. */
  size: number | null;
  cached: boolean | null;
  label: string | null;
  registrations: readonly unknown[];
}

/** What the map needs of a dump region. */
export interface MapRegionInput {
  /** `ion`, `vio`, or `native` (the mappings of a native dump, which has no regions). */
  name: string;
  base: string;
  size: number;
  blocks: readonly MapBlockInput[];
}

export interface MapOptions {
  /** Width of the bars in px. Default 960. */
  width?: number;
  /** Height of one row of a bar. Default 26. */
  rowHeight?: number;
  /** The narrowest a block is drawn. Default 5. */
  minBlockWidth?: number;
  /** The heading; '' for none (a page that has its own). Default 'hbsys memory map'. */
  title?: string;
  /** A line under the title (the stats, for example). */
  subtitle?: string;
}

/** What the map needs of a dump: its regions, and its mappings for a dump without regions. */
export interface MapDumpInput {
  regions: readonly MapRegionInput[];
  mappings?: readonly {
    kind: 'allocation' | 'vio' | 'registration';
    phyAddr: string;
    size: number;
    blockBytes: number | null;
    cached: boolean;
    label: string | null;
  }[];
}

/**
 * The regions to draw for a dump: the emulator's own, or, for a native dump (no regions:
 * libdnn shows no heap layout), one bar of the mappings hbsys handed out, in address order.
 */
export function mapRegions(dump: MapDumpInput): readonly MapRegionInput[] {
  if (dump.regions.length > 0 || dump.mappings === undefined) return dump.regions;
  const blocks: MapBlockInput[] = dump.mappings.map((m) => ({
    kind: m.kind,
    phyAddr: m.phyAddr,
    blockBytes: m.blockBytes ?? m.size,
    size: m.size,
    cached: m.cached,
    label: m.label,
    registrations: [],
  }));
  let size = 0;
  for (const b of blocks) size += b.blockBytes;
  return [{ name: 'native', base: blocks[0]?.phyAddr ?? '0x00000000', size, blocks }];
}

/** How a block is coloured: memory with a live registration shows as registered. */
export function mapKind(block: MapBlockInput): MapKind {
  if (block.kind === 'free') return 'free';
  if (block.kind === 'registration' || block.registrations.length > 0) return 'registered';
  if (block.kind === 'vio') return 'vio';
  return block.cached ? 'cached' : 'uncached';
}

/** Bytes as people read them: 4 KiB, 1.5 MiB. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${u === 0 ? v : Number.isInteger(v) ? v : v.toFixed(1)} ${units[u]}`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

const REGION_TITLES: Record<string, string> = {
  ion: 'ION heap',
  vio: 'VIO region',
  native: "hbsys's allocations and registrations on the board (address order, gaps not shown)",
};

/** The memory map of `regions` as an SVG document. */
export function renderMapSvg(regions: readonly MapRegionInput[], options: MapOptions = {}): string {
  const width = options.width ?? 960;
  const rowHeight = options.rowHeight ?? 26;
  const minWidth = options.minBlockWidth ?? 5;
  const margin = 12;
  const out: string[] = [];
  const title = options.title ?? 'hbsys memory map';
  let y = margin;
  if (title !== '') {
    y += 18;
    out.push(
      `<text x="${margin}" y="${y}" class="title" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
    );
  }
  if (options.subtitle) {
    y += 16;
    out.push(`<text x="${margin}" y="${y}" font-size="12">${escapeXml(options.subtitle)}</text>`);
  }
  y += 14;
  // Legend.
  let lx = margin;
  for (const [kind, colour] of Object.entries(MAP_COLOURS)) {
    out.push(
      `<rect x="${lx}" y="${y}" width="12" height="12" fill="${colour}" stroke="#374151" stroke-width="0.5"/>` +
        `<text x="${lx + 16}" y="${y + 10}" font-size="12">${kind}</text>`,
    );
    lx += 110;
  }
  out.push(
    `<text x="${lx}" y="${y + 10}" font-size="11" fill="#4b5563">width: at least ${minWidth} px, ` +
      'then in proportion to √size</text>',
  );
  y += 22;
  let index = 0;
  for (const region of regions) {
    const n = region.blocks.length;
    const rows = Math.max(1, Math.ceil((n * minWidth * 2) / width));
    const total = rows * width;
    const share = total - n * minWidth;
    let rootSum = 0;
    for (const b of region.blocks) rootSum += Math.sqrt(b.blockBytes);
    y += 16;
    const regionTitle = REGION_TITLES[region.name] ?? region.name;
    out.push(
      `<text x="${margin}" y="${y}" font-size="13" font-weight="bold">${escapeXml(regionTitle)} ` +
        `at ${escapeXml(region.base)}, ${formatBytes(region.size)}, ${n} blocks</text>`,
    );
    y += 6;
    out.push(`<g class="region" data-region="${escapeXml(region.name)}">`);
    let cursor = 0;
    for (const block of region.blocks) {
      const length = minWidth + (rootSum > 0 ? (share * Math.sqrt(block.blockBytes)) / rootSum : 0);
      const kind = mapKind(block);
      const colour = MAP_COLOURS[kind];
      const label = block.label ?? '';
      const asked = block.size === null ? '' : `, ${block.size} bytes asked for`;
      const tip =
        `${block.phyAddr}, ${formatBytes(block.blockBytes)} (${block.blockBytes} bytes${asked}), ${kind}` +
        (label === '' ? '' : `, ${label}`);
      out.push(
        `<g class="block" data-index="${index}" data-region="${escapeXml(region.name)}" ` +
          `data-kind="${kind}" data-addr="${escapeXml(block.phyAddr)}" data-size="${block.blockBytes}" ` +
          `data-label="${escapeXml(label)}"><title>${escapeXml(tip)}</title>`,
      );
      // Split at row ends; each piece is a rectangle of the same block.
      let start = cursor;
      const end = Math.min(cursor + length, total);
      while (end - start > 0.01) {
        const row = Math.min(Math.floor(start / width), rows - 1);
        const rowEnd = (row + 1) * width;
        const pieceEnd = Math.min(end, rowEnd);
        const px = margin + (start - row * width);
        const py = y + row * (rowHeight + 4);
        out.push(
          `<rect x="${px.toFixed(2)}" y="${py}" width="${(pieceEnd - start).toFixed(2)}" ` +
            `height="${rowHeight}" fill="${colour}" stroke="#ffffff" stroke-width="1"/>`,
        );
        start = pieceEnd;
      }
      out.push('</g>');
      cursor += length;
      index++;
    }
    out.push('</g>');
    y += rows * (rowHeight + 4) + 8;
  }
  const height = y + margin;
  const svgWidth = width + 2 * margin;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="memory-map" width="${svgWidth}" height="${height}" ` +
    `viewBox="0 0 ${svgWidth} ${height}" font-family="system-ui, sans-serif">` +
    `<rect width="100%" height="100%" fill="#ffffff"/>${out.join('')}</svg>`
  );
}
