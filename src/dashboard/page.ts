// The dashboard's single page: it polls the JSON API and draws tables.

export const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>troupe</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.3em}h2{font-size:1.05em;margin-top:1.6em}
table{border-collapse:collapse}td,th{padding:.25em .8em;border-bottom:1px solid #ddd;text-align:left}
th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.bar{display:inline-block;height:.8em;background:#4a7;vertical-align:middle}
</style></head><body>
<h1>troupe scheduler <span id="addr"></span></h1>
<h2>Tasks</h2><table id="tasks"></table>
<h2>Progress by group</h2><table id="groups"></table>
<h2>Workers</h2><table id="workers"></table>
<h2>Actors</h2><table id="actors"></table>
<script>
// Arrived by the login link: the cookie now stands for the token, which should not stay in the address bar or history.
const here = new URL(location.href);
if (here.searchParams.has("token")) { here.searchParams.delete("token"); history.replaceState(null, "", here); }
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
const row = (cells, head) => "<tr>" + cells.map((c) => head ? "<th>" + esc(c) + "</th>" : "<td" + (typeof c === "number" ? ' class="num"' : "") + ">" + esc(typeof c === "number" ? Math.round(c * 100) / 100 : c) + "</td>").join("") + "</tr>";
async function refresh() {
  const info = await (await fetch("api/info")).json();
  document.getElementById("addr").textContent = info.address;
  // Queued tasks are processing ones waiting behind their worker's busy threads: not a state of their own.
  const { queued, ...byState } = info.tasks;
  const total = Object.values(byState).reduce((a, b) => a + b, 0) || 1;
  document.getElementById("tasks").innerHTML = row(["state", "tasks", ""], true) + Object.entries(byState).map(([s, n]) =>
    row([s, n]).replace("</tr>", '<td><span class="bar" style="width:' + Math.round(200 * n / total) + 'px"></span></td></tr>')).join("") +
    row(["queued on workers (of processing)", queued]) + row(["unrunnable", info.unrunnable.length]);
  document.getElementById("groups").innerHTML = row(["group", "done", "in memory", "processing", "waiting", "erred", ""], true) +
    Object.entries(info.groups).map(([g, c]) => {
      const n = Object.values(c).reduce((a, b) => a + b, 0) || 1;
      const done = (c.memory || 0) + (c.erred || 0) + (c.lost || 0) + (c.cancelled || 0) + (c.released || 0);
      return row([g, done + "/" + n, c.memory || 0, c.processing || 0, (c.waiting || 0) + (c["no-worker"] || 0), c.erred || 0])
        .replace("</tr>", '<td><span class="bar" style="width:' + Math.round(200 * done / n) + 'px"></span></td></tr>');
    }).join("");
  const ws = Object.entries(info.workers);
  document.getElementById("workers").innerHTML = row(["address", "name", "threads", "actor threads", "processing", "stored", "memory MB", "resources"], true) +
    ws.map(([a, w]) => row([a, w.name, w.nthreads, w.actorThreads, w.tasksProcessing, w.storedKeys, w.memoryBytes / 1e6, JSON.stringify(w.resources)])).join("");
  document.getElementById("actors").innerHTML = row(["actor", "class", "worker", "calls", "in flight", "mean ms"], true) +
    ws.flatMap(([a, w]) => Object.entries(w.actors).map(([k, s]) => row([k, s.className, a, s.calls, s.inFlight, s.meanCallMs]))).join("");
}
refresh(); setInterval(refresh, 1000);
</script></body></html>`;

/** What a browser without the token sees instead of the page. */
export function loginPage(why: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>troupe: log in</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em;color:#222;max-width:40em}code{background:#f4f4f4;padding:0 .2em}</style>
</head><body>
<h1>troupe dashboard</h1>
<p>${why.charAt(0).toUpperCase() + why.slice(1)}.</p>
<p>Open the login link <code>troupe scheduler</code> printed when it started
(<code>http://HOST:PORT/?token=…</code>); the browser then keeps a cookie for this dashboard.
Scrapers send <code>Authorization: Bearer &lt;token&gt;</code>.</p>
</body></html>`;
}
