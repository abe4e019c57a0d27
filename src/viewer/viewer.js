// The live view's page script: switches the image between wires and
// overlays without reloading, pauses the stream while the page is hidden
// (so nothing is encoded for nobody), and refreshes the statistics from
// /api/state once a second. Plain DOM, no build step, nothing from
// elsewhere; every value goes in as text, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
// This page's id: its newer stream ends its older one on the server, as
// the browser may keep an image's old stream open after a switch.
const client = document.body.dataset.client;

function chosen() {
  const wire = $('wire').value;
  const overlays = [...document.querySelectorAll('#overlays input:checked')]
    .map((b) => b.value)
    .filter((o) => o !== wire);
  return { wire, overlays };
}

function query(c) {
  const q = new URLSearchParams();
  if (c.wire) q.append('wire', c.wire);
  for (const o of c.overlays) q.append('overlay', o);
  return q;
}

function streamUrl(c) {
  const q = query(c);
  q.delete('wire');
  q.append('client', client);
  return '/stream/' + encodeURIComponent(c.wire) + '?' + q.toString();
}

// Points the image at the chosen stream (the browser closes the old one,
// and the viewer stops encoding it when nobody else watches).
function show() {
  const c = chosen();
  const img = $('view');
  if (!c.wire) {
    img.removeAttribute('src');
    img.hidden = true;
    return;
  }
  const none = $('noimage');
  if (none) none.remove();
  img.hidden = false;
  img.alt = 'live image of wire ' + c.wire;
  const url = streamUrl(c);
  if (img.getAttribute('src') !== url) img.src = url;
  history.replaceState(null, '', '/?' + query(c).toString());
}

$('controls').addEventListener('change', show);
$('controls').addEventListener('submit', (e) => { e.preventDefault(); show(); });
// A hidden page watches nothing: its stream ends (and with the last
// watcher, the encoding) until it shows again.
document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    $('view').removeAttribute('src');
    fetch('/api/release?client=' + encodeURIComponent(client), { cache: 'no-store' }).catch(() => {});
  } else {
    show();
  }
});

function cell(tr, key, text, num) {
  const td = document.createElement('td');
  td.dataset.k = key;
  td.textContent = text === null || text === undefined ? '-' : String(text);
  if (num) td.className = 'num';
  tr.appendChild(td);
}

const fmt = (v, unit) => (v === null || v === undefined ? '-' : v + (unit || ''));

// Keeps the wire list and the overlay boxes in step with the pipeline (a
// page opened before the pipeline started fills in when it does).
function syncChoices(wires) {
  const sel = $('wire');
  const images = wires.filter((w) => w.viewable).map((w) => w.name);
  const have = [...sel.options].map((o) => o.value);
  if (images.join('\n') !== have.join('\n')) {
    const keep = sel.value;
    sel.replaceChildren(...images.map((n) => new Option(n, n, false, n === keep)));
    if (!images.includes(keep) && images.length) sel.value = images[0];
    show();
  }
  const box = $('overlays');
  const overlays = wires.filter((w) => w.overlay).map((w) => w.name);
  const shown = [...box.querySelectorAll('input')].map((b) => b.value);
  if (overlays.join('\n') !== shown.join('\n')) {
    const on = new Set(chosen().overlays);
    box.replaceChildren(...overlays.map((n) => {
      const l = document.createElement('label');
      const b = document.createElement('input');
      b.type = 'checkbox';
      b.name = 'overlay';
      b.value = n;
      b.checked = on.has(n);
      l.append(b, ' ' + n + ' ');
      return l;
    }));
  }
}

function render(s) {
  $('pipeline').textContent = s.pipeline;
  $('status').textContent = s.running ? 'running' : 'not running';
  $('status').className = s.running ? '' : 'down';
  const wires = $('wires').tBodies[0];
  wires.replaceChildren(...s.wires.map((w) => {
    const tr = document.createElement('tr');
    tr.dataset.wire = w.name;
    if (w.error || (w.silent_ms !== null && w.silent_ms > 2000 && w.frames > 0)) tr.className = 'bad';
    cell(tr, 'name', w.name);
    if (w.error) {
      cell(tr, 'error', w.error);
      return tr;
    }
    cell(tr, 'kind', w.kind === 'image' ? (w.format || 'image') : w.kind);
    cell(tr, 'policy', w.policy);
    cell(tr, 'fps', w.fps, true);
    cell(tr, 'latency', fmt(w.latency_us, ' µs'), true);
    cell(tr, 'drops', w.drops + (w.drops_per_s ? ' (' + w.drops_per_s + '/s)' : ''), true);
    cell(tr, 'frames', w.frames, true);
    cell(tr, 'readers', w.readers + (w.viewer_readers ? ' + ' + w.viewer_readers + ' viewer' : ''), true);
    return tr;
  }));
  const blocks = $('blocks').tBodies[0];
  blocks.replaceChildren(...s.blocks.map((b) => {
    const tr = document.createElement('tr');
    tr.dataset.block = b.name;
    if (b.state !== 'running' && b.state !== 'finished') tr.className = 'bad';
    cell(tr, 'name', b.name);
    cell(tr, 'type', b.type);
    cell(tr, 'state', b.phase && b.phase !== 'running' && b.state === 'running' ? b.state + ' (' + b.phase + ')' : b.state);
    cell(tr, 'pid', b.pid || '-', true);
    cell(tr, 'restarts', b.restarts, true);
    cell(tr, 'cpu', fmt(b.cpu_percent, ' %'), true);
    cell(tr, 'heartbeat', fmt(b.heartbeat_ms, ' ms ago'), true);
    cell(tr, 'link', b.link ? b.link.state + ' ' + b.link.for_s + ' s: ' + b.link.detail : '');
    cell(tr, 'gauges', (b.gauges || []).map((g) => g[0] + '=' + g[1]).join(' '));
    cell(tr, 'last_exit', b.last_exit);
    return tr;
  }));
  syncChoices(s.wires);
  const c = chosen();
  const f = s.viewer.feeds.find((x) => x.wire === c.wire && x.overlays.join() === c.overlays.join());
  $('feed').textContent = f
    ? 'Encoding ' + fmt(f.fps) + ' frames/s at ' + f.width + 'x' + f.height + ', ' +
      Math.round(f.jpeg_bytes / 1024) + ' KiB, ' + f.work_ms + ' ms each; ' +
      f.age_ms + ' ms from capture; ' + f.watchers + ' watching.'
    : '';
}

let refreshes = 0;
async function refresh() {
  try {
    const r = await fetch('/api/state', { cache: 'no-store' });
    render(await r.json());
    refreshes += 1;
    document.body.dataset.refreshes = String(refreshes);
  } catch (e) {
    $('status').textContent = 'viewer unreachable (the pipeline stopped?)';
    $('status').className = 'down';
  }
  setTimeout(refresh, 1000);
}
refresh();
