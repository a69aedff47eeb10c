/**
 * The memory-map page: one HTML document, no build step. Its script loads the map
 * renderer the server also uses for map.svg (`/map-svg.js`), follows `/events`
 * (Server-Sent Events, one `state` message per change) and redraws.
 */

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>hbsys memory map</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 16px; color: #111827; background: #f9fafb; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #status { color: #4b5563; margin-bottom: 8px; }
  #map { background: #fff; border: 1px solid #e5e7eb; display: inline-block; }
  #map g.block { cursor: crosshair; }
  #map g.block.hovered rect { stroke: #111827; stroke-width: 2; }
  .panels { display: flex; gap: 24px; margin-top: 12px; align-items: flex-start; }
  table { border-collapse: collapse; background: #fff; font-size: 13px; }
  td { border: 1px solid #e5e7eb; padding: 2px 8px; }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  #findings { font-size: 13px; max-width: 640px; }
  #findings li { margin-bottom: 4px; color: #991b1b; }
  #tooltip { position: fixed; pointer-events: none; background: #111827; color: #fff; padding: 6px 8px;
    border-radius: 4px; font-size: 12px; display: none; white-space: pre; z-index: 10; }
</style>
</head>
<body data-updates="0">
<h1>hbsys memory map</h1>
<div id="status">connecting…</div>
<div id="map"></div>
<div class="panels">
  <div><h2>Statistics</h2><table id="stats"></table></div>
  <div><h2>Findings</h2><div id="findings">none yet</div></div>
</div>
<div id="tooltip"></div>
<script type="module">
import { formatBytes, mapRegions, renderMapSvg } from '/map-svg.js';

const mapEl = document.getElementById('map');
const tooltip = document.getElementById('tooltip');
let hovered = null;

const STAT_ROWS = [
  ['heap size', 'heapSize', 'bytes'], ['bytes in use', 'bytesInUse', 'bytes'], ['bytes free', 'bytesFree', 'bytes'],
  ['peak in use', 'peakBytesInUse', 'bytes'], ['largest free block', 'largestFreeBlock', 'bytes'],
  ['fragmentation', 'fragmentation', 'ratio'], ['free blocks', 'freeBlockCount'], ['live allocations', 'allocationCount'],
  ['live registrations', 'registrationCount'], ['VIO buffers', 'vioBufferCount'], ['allocs', 'allocs'], ['frees', 'frees'],
  ['CLEANs', 'cleans'], ['bytes cleaned', 'bytesCleaned', 'bytes'], ['INVALIDATEs', 'invalidates'],
  ['bytes invalidated', 'bytesInvalidated', 'bytes'], ['BPU jobs', 'bpuJobs'], ['BPU bytes', 'bpuBytes', 'bytes'],
  ['findings', 'findings'],
];

function text(s) { return String(s).replace(/[<>&]/g, (c) => '&#' + c.charCodeAt(0) + ';'); }

function describe(g) {
  const d = g.dataset;
  return d.addr + '\\n' + formatBytes(Number(d.size)) + ' (' + d.size + ' bytes)\\n' + d.kind +
    (d.label ? '\\n' + d.label : '');
}

function render(state) {
  const { dump, status } = state;
  const s = dump.stats;
  mapEl.innerHTML = renderMapSvg(mapRegions(dump), {
    title: '',
    // A native dump has no heap of its own to measure: its counts only.
    subtitle: s.heapSize === undefined
      ? formatBytes(s.bytesInUse) + ' in use on the board, ' + s.allocationCount + ' allocations'
      : formatBytes(s.bytesInUse) + ' of ' + formatBytes(s.heapSize) + ' in use, ' + s.allocationCount +
        ' allocations, fragmentation ' + (s.fragmentation * 100).toFixed(1) + '%',
  });
  document.getElementById('status').textContent = status || '';
  document.getElementById('stats').innerHTML = STAT_ROWS.filter(([, key]) => s[key] !== undefined).map(([name, key, unit]) => {
    const v = s[key];
    const shown = unit === 'bytes' ? formatBytes(v) : unit === 'ratio' ? (v * 100).toFixed(1) + '%' : v;
    return '<tr><td>' + name + '</td><td class="num" data-stat="' + key + '">' + text(shown) + '</td></tr>';
  }).join('');
  const findings = dump.findings;
  document.getElementById('findings').innerHTML = findings.length === 0 ? '<p>no findings</p>' :
    '<ol>' + findings.map((f) => '<li><b>' + text(f.kind) + '</b> ' + text(f.message) + '</li>').join('') + '</ol>';
  if (hovered !== null) {
    const again = mapEl.querySelector('g.block[data-addr="' + hovered + '"]');
    if (again) { again.classList.add('hovered'); tooltip.textContent = describe(again); }
  }
  document.body.dataset.updates = String(Number(document.body.dataset.updates) + 1);
  document.body.dataset.bpuJobs = String(s.bpuJobs);
}

mapEl.addEventListener('mousemove', (event) => {
  const g = event.target.closest ? event.target.closest('g.block') : null;
  for (const h of mapEl.querySelectorAll('g.block.hovered')) if (h !== g) h.classList.remove('hovered');
  if (!g) { hovered = null; tooltip.style.display = 'none'; return; }
  g.classList.add('hovered');
  hovered = g.dataset.addr;
  tooltip.textContent = describe(g);
  tooltip.style.display = 'block';
  tooltip.style.left = event.clientX + 14 + 'px';
  tooltip.style.top = event.clientY + 14 + 'px';
});
mapEl.addEventListener('mouseleave', () => { hovered = null; tooltip.style.display = 'none'; });

const source = new EventSource('/events');
source.addEventListener('state', (event) => render(JSON.parse(event.data)));
source.onerror = () => { document.getElementById('status').textContent += ' (disconnected; retrying)'; };
</script>
</body>
</html>
`;
