// The dashboard's single page, written by hand: no build step, no library.
// It listens to the live feed (Server-Sent Events at api/live) and draws the
// task stream on a canvas, the rest as plain DOM built with textContent (keys,
// messages and log lines come from user code: never parsed as HTML).

const STYLE = String.raw`
:root{--fg:#1d2329;--muted:#6a737d;--line:#e3e6e8;--bg:#fff;--panel:#f7f8f9;--ok:#2e9d5b;--warn:#d39e00;--bad:#d73a3a;--run:#3873c4}
*{box-sizing:border-box}
body{font:13px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1.2em;align-items:baseline;flex-wrap:wrap;padding:.7em 1.2em;border-bottom:1px solid var(--line);position:sticky;top:0;background:var(--bg);z-index:2}
h1{font-size:1.15em;margin:0}h2{font-size:1em;margin:0 0 .5em}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:1em;padding:1em 1.2em}
section{background:var(--panel);border:1px solid var(--line);border-radius:6px;padding:.7em .9em;min-width:0}
section.wide{grid-column:1/-1}
.muted{color:var(--muted)}
#status{font-weight:600;padding:.1em .6em;border-radius:1em;background:#eee}
#status.live{background:#e3f4ea;color:var(--ok)}#status.down{background:#fbe4e4;color:var(--bad)}
#summary span{margin-right:1em}
table{border-collapse:collapse;width:100%}
td,th{padding:.22em .5em;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
th{font-weight:600;color:var(--muted);font-size:.92em}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:0 .5em;border-radius:.8em;font-size:.9em;font-weight:600}
.s-running,.s-alive{background:#e3f4ea;color:var(--ok)}
.s-paused,.s-retiring,.s-restarting,.s-starting{background:#fff3cd;color:#8a6d00}
.s-gone,.s-lost,.s-failed{background:#fbe4e4;color:var(--bad)}
.meter{position:relative;width:170px;height:14px;background:#e9ecef;border-radius:3px;overflow:hidden;display:inline-block;vertical-align:middle}
.meter>i{position:absolute;left:0;top:0;bottom:0}
.meter>b{position:absolute;top:0;bottom:0;width:1px;background:#0003}
.meter>span{position:absolute;left:0;right:0;text-align:center;font-size:10px;line-height:14px}
#stream-wrap{position:relative}
#stream{width:100%;display:block;background:#fff;border:1px solid var(--line);border-radius:4px}
#tip{position:absolute;pointer-events:none;background:#1d2329e8;color:#fff;padding:.3em .6em;border-radius:4px;font-size:12px;display:none;white-space:pre;z-index:3}
.controls{float:right;font-size:.92em}
.legend{margin-top:.4em;display:flex;flex-wrap:wrap;gap:.3em 1em}
.legend i{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.3em;vertical-align:-1px}
.prog{display:grid;grid-template-columns:minmax(8em,14em) 1fr minmax(12em,auto);gap:.2em .8em;align-items:center}
.bar{display:flex;height:14px;background:#e9ecef;border-radius:3px;overflow:hidden}
.bar>i{height:100%}
.failure{border-left:3px solid var(--bad);background:#fff;margin:.4em 0;padding:.3em .6em}
.failure summary{cursor:pointer}
pre{margin:.3em 0 0;font:12px/1.35 ui-monospace,SFMono-Regular,Menlo,monospace;white-space:pre-wrap;word-break:break-all}
pre.stack{color:#6b1d1d;max-height:16em;overflow:auto}
pre.log{background:#fff;border:1px solid var(--line);padding:.4em;max-height:14em;overflow:auto}
.empty{color:var(--muted);font-style:italic}
`;

const SCRIPT = String.raw`
"use strict";
// Arrived by the login link: the cookie now stands for the token, which should not stay in the address bar or history.
const here = new URL(location.href);
if (here.searchParams.has("token")) { here.searchParams.delete("token"); history.replaceState(null, "", here); }

const STATE_COLORS = { memory: "#2e9d5b", erred: "#d73a3a", lost: "#e8833a", cancelled: "#a0a0a0", processing: "#3873c4", "no-worker": "#9b59b6", waiting: "#c9ced3", released: "#e3e6e8" };
const STATE_ORDER = ["memory", "erred", "lost", "cancelled", "processing", "no-worker", "waiting", "released"];
const KEEP_MS = 10 * 60 * 1000;
const MAX_BARS = 50000;
const LOG_LINES = 60;

let frame = null;        // the last state the scheduler sent
let clockSkew = 0;       // the scheduler's clock minus this browser's
let bars = [];           // task bars, oldest first
const failures = [];     // newest first
const logs = new Map();  // worker name → its last lines
let windowMs = 60000;
let lastFrameAt = 0;

const $ = (id) => document.getElementById(id);
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") el.className = v; else if (k === "style") el.style.cssText = v; else el.setAttribute(k, v);
  }
  for (const kid of kids.flat()) if (kid !== undefined && kid !== null) el.append(kid instanceof Node ? kid : String(kid));
  return el;
}
const num = (v, attrs) => h("td", Object.assign({ class: "num" }, attrs), v);
function bytes(n) {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  const i = Math.min(u.length - 1, Math.floor(Math.log(n) / Math.log(1024)));
  return (n / Math.pow(1024, i)).toFixed(i ? 1 : 0) + " " + u[i];
}
const ms = (v) => (v >= 1000 ? (v / 1000).toFixed(2) + " s" : v >= 10 ? v.toFixed(0) + " ms" : v >= 1 ? v.toFixed(1) + " ms" : v.toFixed(3) + " ms");
const clock = (t) => new Date(t).toLocaleTimeString();
function hue(name) {
  let x = 2166136261;
  for (let i = 0; i < name.length; i++) x = Math.imul(x ^ name.charCodeAt(i), 16777619);
  return (x >>> 0) % 360;
}
// Red stays for errors: groups take the other hues.
const groupColor = (g) => "hsl(" + ((hue(g) % 300) + 30) + ",55%,52%)";
const badge = (s, title) => h("span", { class: "badge s-" + s, title }, s);
function replace(id, ...kids) { const el = $(id); el.replaceChildren(...kids.filter((k) => k !== null && k !== undefined)); return el; }

// ---------------------------------------------------------------- the feed
function connect() {
  const es = new EventSource("api/live");
  // Each connection starts with the history the scheduler holds: what this page had is replaced, not doubled.
  es.onopen = () => {
    bars = [];
    failures.length = 0;
    logs.clear();
    setStatus(true);
  };
  es.onmessage = (ev) => receive(JSON.parse(ev.data));
  es.onerror = () => setStatus(false);
}
function setStatus(up) {
  const s = $("status");
  s.textContent = up ? "live" : "disconnected: retrying";
  s.className = up ? "live" : "down";
}
setInterval(() => { if (frame && Date.now() - lastFrameAt > 5000) setStatus(false); }, 1000);

function receive(f) {
  lastFrameAt = Date.now();
  clockSkew = f.now - Date.now();
  frame = f;
  setStatus(true);
  for (const b of f.bars) bars.push(b);
  const oldest = f.now - KEEP_MS;
  let drop = 0;
  while (drop < bars.length && (bars[drop].stop < oldest || bars.length - drop > MAX_BARS)) drop++;
  if (drop) bars = bars.slice(drop);
  for (const x of f.failures) failures.unshift(x);
  failures.length = Math.min(failures.length, 50);
  for (const l of f.logs) {
    let lines = logs.get(l.name);
    if (!lines) logs.set(l.name, (lines = []));
    lines.push(clock(l.at) + "  " + l.line);
    if (lines.length > LOG_LINES) lines.splice(0, lines.length - LOG_LINES);
  }
  render();
}

// ---------------------------------------------------------------- drawing
function render() {
  const f = frame;
  $("addr").textContent = f.address;
  const threads = f.workers.filter((w) => w.state !== "gone").reduce((a, w) => a + w.nthreads, 0);
  replace("summary",
    h("span", null, f.workers.filter((w) => w.state !== "gone").length + " workers, " + threads + " task threads"),
    h("span", null, f.tasks.processing + " processing (" + f.tasks.queued + " queued)"),
    h("span", null, f.tasks.waiting + " waiting"),
    h("span", null, f.tasks.memory + " in memory"),
    h("span", { style: f.tasks.erred ? "color:var(--bad);font-weight:600" : "" }, f.tasks.erred + " erred"),
    f.unrunnable ? h("span", { style: "color:var(--bad)" }, f.unrunnable + " unrunnable") : null);
  drawStream();
  renderProgress(f);
  renderWorkers(f);
  renderActors(f);
  renderFailures();
  renderLogs();
}

let hits = [];
function lanesOf(f, t0) {
  const lanes = [];
  const seen = new Set();
  const add = (worker, name, thread) => {
    const id = worker + "#" + thread;
    if (seen.has(id)) return;
    seen.add(id);
    lanes.push({ id, label: name + " #" + thread, worker, thread });
  };
  const names = new Map(f.workers.map((w) => [w.address, w.name]));
  for (const w of f.workers) if (w.state !== "gone") for (let i = 0; i < w.nthreads; i++) add(w.address, w.name, i);
  for (const b of bars) if (b.stop >= t0) add(b.worker, names.get(b.worker) || b.worker, b.thread);
  lanes.sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
  return lanes;
}

function drawStream() {
  if (!frame) return;
  const canvas = $("stream");
  const now = Date.now() + clockSkew;
  const t0 = now - windowMs;
  const lanes = lanesOf(frame, t0);
  const laneH = 16, gap = 3, left = 120, top = 4, axis = 18;
  const cssW = canvas.clientWidth || 800;
  const cssH = top + Math.max(1, lanes.length) * (laneH + gap) + axis;
  const dpr = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(cssW * dpr) || canvas.height !== Math.round(cssH * dpr)) {
    canvas.width = Math.round(cssW * dpr);
    canvas.height = Math.round(cssH * dpr);
    canvas.style.height = cssH + "px";
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, cssW, cssH);
  const plotW = cssW - left - 6;
  const x = (t) => left + ((t - t0) / windowMs) * plotW;
  const row = new Map(lanes.map((l, i) => [l.id, top + i * (laneH + gap)]));
  ctx.font = "11px system-ui,sans-serif";
  ctx.textBaseline = "middle";
  for (const [i, l] of lanes.entries()) {
    const y = top + i * (laneH + gap);
    ctx.fillStyle = i % 2 ? "#f7f8f9" : "#fbfbfc";
    ctx.fillRect(left, y, plotW, laneH);
    ctx.fillStyle = "#6a737d";
    ctx.fillText(l.label.length > 19 ? l.label.slice(0, 18) + "…" : l.label, 4, y + laneH / 2);
  }
  hits = [];
  let drawn = 0;
  const groups = new Map();
  for (const b of bars) {
    if (b.stop < t0) continue;
    const y = row.get(b.worker + "#" + b.thread);
    if (y === undefined) continue;
    const x0 = Math.max(left, x(b.start)), x1 = Math.max(x0 + 1, x(b.stop));
    ctx.fillStyle = b.erred ? "#d73a3a" : groupColor(b.group);
    ctx.fillRect(x0, y + 1, x1 - x0, laneH - 2);
    hits.push({ x0, x1, y, b });
    groups.set(b.group, (groups.get(b.group) || 0) + 1);
    drawn++;
  }
  // What runs now: an open bar up to now, outlined, so a task that is stuck shows as a long one growing.
  for (const r of frame.running) {
    const y = row.get(r.worker + "#" + r.thread);
    if (y === undefined) continue;
    const x0 = Math.max(left, x(r.since)), x1 = Math.max(x0 + 2, x(now));
    ctx.fillStyle = groupColor(r.group);
    ctx.globalAlpha = 0.45;
    ctx.fillRect(x0, y + 1, x1 - x0, laneH - 2);
    ctx.globalAlpha = 1;
    ctx.strokeStyle = groupColor(r.group);
    ctx.strokeRect(x0 + 0.5, y + 1.5, x1 - x0 - 1, laneH - 3);
    hits.push({ x0, x1, y, b: { key: r.key, group: r.group, start: r.since, stop: now, running: true, worker: r.worker, thread: r.thread } });
    groups.set(r.group, groups.get(r.group) || 0);
  }
  const axisY = top + lanes.length * (laneH + gap) + 2;
  ctx.fillStyle = "#6a737d";
  ctx.textBaseline = "top";
  const step = windowMs / 6;
  for (let i = 0; i <= 6; i++) {
    const t = t0 + i * step;
    const label = i === 6 ? "now" : "-" + Math.round((now - t) / 1000) + " s";
    const px = x(t);
    ctx.fillRect(px, axisY, 1, 4);
    ctx.textAlign = i === 0 ? "left" : i === 6 ? "right" : "center";
    ctx.fillText(label, px, axisY + 4);
  }
  ctx.textAlign = "left";
  canvas.dataset.lanes = String(lanes.length);
  canvas.dataset.bars = String(drawn);
  canvas.dataset.running = String(frame.running.length);
  replace("legend", ...[...groups.keys()].sort().map((g) => h("span", null, h("i", { style: "background:" + groupColor(g) }), g)),
    h("span", null, h("i", { style: "background:#d73a3a" }), "failed"),
    h("span", { class: "muted" }, drawn + " tasks in view, " + lanes.length + " lanes"));
}

function showTip(ev) {
  const canvas = $("stream");
  const r = canvas.getBoundingClientRect();
  const px = ev.clientX - r.left, py = ev.clientY - r.top;
  let hit = null;
  for (let i = hits.length - 1; i >= 0; i--) {
    const c = hits[i];
    if (px >= c.x0 - 1 && px <= c.x1 + 1 && py >= c.y && py <= c.y + 16) { hit = c; break; }
  }
  const tip = $("tip");
  if (!hit) { tip.style.display = "none"; return; }
  const b = hit.b;
  tip.textContent = b.key + "\n" + b.group + (b.running ? " · running for " : b.erred ? " · failed after " : " · ran ") + ms(b.stop - b.start) + "\nthread " + b.thread + " of " + b.worker;
  tip.style.display = "block";
  tip.style.left = Math.min(px + 12, r.width - 260) + "px";
  tip.style.top = py + 14 + "px";
}

function renderProgress(f) {
  const rows = Object.entries(f.groups).sort((a, b) => (a[0] < b[0] ? -1 : 1));
  if (!rows.length) return replace("progress", h("div", { class: "empty" }, "no tasks yet"));
  const cells = [];
  for (const [g, c] of rows) {
    const total = Object.values(c).reduce((a, n) => a + (n || 0), 0) || 1;
    const done = (c.memory || 0) + (c.released || 0);
    const segs = STATE_ORDER.filter((s) => c[s]).map((s) => h("i", { style: "width:" + (100 * c[s]) / total + "%;background:" + STATE_COLORS[s], title: s + ": " + c[s] }));
    const parts = STATE_ORDER.filter((s) => c[s] && s !== "memory" && s !== "released").map((s) => c[s] + " " + s);
    cells.push(h("div", { title: g }, h("i", { style: "display:inline-block;width:.7em;height:.7em;border-radius:2px;margin-right:.35em;background:" + groupColor(g) }), g),
      h("div", { class: "bar" }, segs),
      h("div", { class: "muted" }, done + " / " + total + " done" + (parts.length ? " · " + parts.join(", ") : "")));
  }
  replace("progress", ...cells);
}

function meter(used, limit) {
  const frac = limit ? used / limit : 0;
  const color = frac >= 0.95 ? "#d73a3a" : frac >= 0.8 ? "#e8833a" : frac >= 0.6 ? "#d3b100" : "#2e9d5b";
  return h("span", { class: "meter", title: bytes(used) + " of " + bytes(limit) + " (spills at 60 %, pauses at 80 %, restarts at 95 %)" },
    h("i", { style: "width:" + Math.min(100, frac * 100) + "%;background:" + color }),
    h("b", { style: "left:60%" }), h("b", { style: "left:80%" }), h("b", { style: "left:95%" }),
    h("span", null, bytes(used) + " · " + Math.round(frac * 100) + " %"));
}

function renderWorkers(f) {
  const head = h("tr", null, ["worker", "state", "threads", "processing", "stored", "memory / limit", "spilled", "CPU", "net out", "net in", "restarts", "pauses"].map((c, i) => h("th", { class: i > 1 && i !== 5 ? "num" : "" }, c)));
  const rows = [...f.workers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)).map((w) => h("tr", { "data-worker": w.name, "data-state": w.state },
    h("td", { title: w.address }, w.name),
    h("td", null, badge(w.state, w.reason)),
    num(w.nthreads + " + " + w.actorThreads),
    num(w.tasksProcessing),
    num(w.storedKeys),
    h("td", null, meter(w.memoryBytes, w.memoryLimit)),
    num(bytes(w.spilledBytes)),
    num(Math.round(w.cpu * 100) + " %"),
    num(bytes(w.netSentRate) + "/s"),
    num(bytes(w.netReceivedRate) + "/s"),
    num(w.restarts),
    num(w.pauses)));
  replace("workers", head, ...(rows.length ? rows : [h("tr", null, h("td", { class: "empty", colspan: 12 }, "no workers connected"))]));
}

function renderActors(f) {
  const names = new Map(f.workers.map((w) => [w.address, w.name]));
  const head = h("tr", null, ["actor", "class", "state", "worker", "restarts", "calls", "calls/s", "in flight", "mean", "p50", "p99"].map((c, i) => h("th", { class: i > 3 ? "num" : "" }, c)));
  const rows = f.actors.map((a) => h("tr", { "data-actor": a.key, "data-state": a.state },
    h("td", { title: a.key }, a.key.length > 28 ? a.key.slice(0, 27) + "…" : a.key),
    h("td", null, a.className),
    h("td", null, badge(a.state, a.error)),
    h("td", null, a.worker ? names.get(a.worker) || a.worker : "–"),
    num(a.restarts),
    num(a.calls),
    num(a.callsPerSecond.toFixed(1), { "data-rate": String(a.callsPerSecond) }),
    num(a.inFlight),
    num(ms(a.meanMs)),
    num(ms(a.p50Ms)),
    num(ms(a.p99Ms))));
  replace("actors", head, ...(rows.length ? rows : [h("tr", null, h("td", { class: "empty", colspan: 11 }, "no actors"))]));
}

function renderFailures() {
  if (!failures.length) return replace("failures", h("div", { class: "empty" }, "no failures"));
  const names = new Map(frame.workers.map((w) => [w.address, w.name]));
  replace("failures", ...failures.map((x, i) => h("details", { class: "failure", open: i < 5 ? "" : null },
    h("summary", null, h("b", null, x.error.name + ": "), x.error.message.length > 200 ? x.error.message.slice(0, 200) + "…" : x.error.message,
      h("div", { class: "muted" }, clock(x.at) + " · " + (x.kind === "actor" ? "actor " : "task ") + x.key + " · " + x.group + " · on " + (names.get(x.worker) || x.worker))),
    h("pre", { class: "stack" }, x.error.stack || "(no stack)"))));
}

function renderLogs() {
  if (!logs.size) return replace("logs", h("div", { class: "empty" }, "no output from workers yet (TROUPE_LOG=info logs more)"));
  const names = [...logs.keys()].sort();
  replace("logs", ...names.map((n) => h("div", null, h("b", null, n), h("pre", { class: "log" }, logs.get(n).join("\n")))));
  for (const pre of document.querySelectorAll("pre.log")) pre.scrollTop = pre.scrollHeight;
}

$("window").onchange = (ev) => { windowMs = Number(ev.target.value); drawStream(); };
$("stream").onmousemove = showTip;
$("stream").onmouseleave = () => ($("tip").style.display = "none");
// The stream moves on between frames.
setInterval(drawStream, 250);
window.onresize = drawStream;
connect();
`;

export const PAGE = String.raw`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>troupe scheduler</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<style>${STYLE}</style></head><body>
<header><h1>troupe scheduler <span id="addr" class="muted"></span></h1><span id="status">connecting…</span><div id="summary"></div></header>
<main>
<section class="wide"><h2>Task stream <span class="controls">window
<select id="window"><option value="15000">15 s</option><option value="60000" selected>1 min</option><option value="300000">5 min</option><option value="600000">10 min</option></select></span></h2>
<div id="stream-wrap"><canvas id="stream" height="60"></canvas><div id="tip"></div></div><div id="legend" class="legend"></div></section>
<section class="wide"><h2>Progress by group</h2><div id="progress" class="prog"></div></section>
<section class="wide"><h2>Workers</h2><table id="workers"></table></section>
<section class="wide"><h2>Actors</h2><table id="actors"></table></section>
<section><h2>Recent failures</h2><div id="failures"></div></section>
<section><h2>Worker output</h2><div id="logs"></div></section>
</main>
<script>${SCRIPT}</script></body></html>`;

/** What a browser without the token sees instead of the page. */
export function loginPage(why: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>troupe: log in</title>
<link rel="icon" href="data:,">
<style>body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;max-width:40em}code{background:#f4f4f4;padding:0 .2em}</style>
</head><body>
<h1>troupe dashboard</h1>
<p>${why.charAt(0).toUpperCase() + why.slice(1)}.</p>
<p>Open the login link troupe printed when the scheduler started
(<code>http://HOST:PORT/?token=…</code>: <code>troupe scheduler</code> prints it, and a client
holds it as <code>client.dashboardLink</code>); the browser then keeps a cookie for this dashboard.
Scrapers send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
</body></html>`;
}
