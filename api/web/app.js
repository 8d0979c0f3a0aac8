// pogoscope page: plain JS against the /v1 API, charts drawn as SVG here (no CDN, no library).
// The API key lives in localStorage and goes in the X-API-Key header (and ?api_key= for EventSource
// and <img>, which cannot send headers).
"use strict";
const $ = (s, el = document) => el.querySelector(s);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
let KEY = localStorage.getItem("pogoscope.key") || "";
let source = null;
const feed = new Map(); // id -> summary (the feed's current page, live updates merged in)
const FEED = { filters: {}, cursors: [], next: null };

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { "X-API-Key": KEY, ...(opts.headers || {}) } });
  const ct = r.headers.get("content-type") || "";
  const body = ct.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body.detail || `${r.status}`);
  return body;
}
const withKey = (url) => `${url}${url.includes("?") ? "&" : "?"}api_key=${encodeURIComponent(KEY)}`;
const verdict = (v) => v ? `<span class="v-${esc(v)}">${esc(v)}</span>` : "";
const num = (v, p = 4) => v == null ? "—" : (+v).toPrecision(p);
const fmt = (m) => m == null ? "" : m.value == null ? `<span class="hint">n/m</span>` : `${num(m.value)} ± ${num(m.uncertainty, 2)} ${esc(m.unit)}`;
const when = (t) => t ? new Date(t).toLocaleString([], { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
const pct = (v) => v == null ? "—" : `${(100 * v).toFixed(1)} %`;
const ci = (c) => c ? `${num(c.value, 3)} <span class="hint">[${num(c.lower, 3)}, ${num(c.upper, 3)}]</span>` : "—";
const enc = encodeURIComponent;

// -- live events ---------------------------------------------------------------------------
function connect() {
  if (source) source.close();
  if (!KEY) return;
  source = new EventSource(withKey("/v1/events"));
  source.onopen = () => $("#live").classList.add("on");
  source.onerror = () => $("#live").classList.remove("on");
  const onEvent = (e) => {
    const ev = JSON.parse(e.data), d = ev.data;
    const old = feed.get(d.inspection_id) || {};
    const item = { id: d.inspection_id, serial: d.serial, station_id: d.station_id, status: d.status, verdict: d.verdict, reasons: d.reasons,
      created_at: old.created_at || ev.created_at, recipe: d.recipe,
      reviewed_verdict: d.reviewed_verdict || old.reviewed_verdict, reviewed_by: d.reviewed_by || old.reviewed_by };
    const route = location.hash || "#/dashboard";
    if (route.startsWith("#/feed") && !FEED.cursors.length && matches(item, FEED.filters)) { feed.set(item.id, item); renderFeed(); }
    if (route.startsWith("#/review")) showReview();
  };
  source.addEventListener("inspection.completed", onEvent);
  source.addEventListener("inspection.verified", onEvent);
  source.addEventListener("spc.alarm", (e) => {
    const d = JSON.parse(e.data).data;
    const bar = $("#alarm-bar");
    bar.innerHTML = `<a href="${esc(d.chart_url.replace("/ui/", ""))}">SPC alarm: ${esc(d.detail)}</a>`;
    bar.hidden = false;
    if ((location.hash || "#/dashboard").startsWith("#/dashboard")) showDashboard();
  });
}
function matches(it, f) {
  return (!f.serial || it.serial === f.serial) && (!f.verdict || it.verdict === f.verdict) && (!f.station_id || it.station_id === f.station_id);
}

function table(items, cols, cls = "") {
  return `<table class="${cls}"><thead><tr>${cols.map((c) => `<th>${c[0]}</th>`).join("")}</tr></thead><tbody>${items.map((it) =>
    `<tr class="row" data-id="${esc(it.id)}">${cols.map((c) => `<td>${c[1](it)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}
const reviewedCell = (i) => i.reviewed_verdict ? `→ ${verdict(i.reviewed_verdict)}${i.reviewed_by ? ` <span class="hint">${esc(i.reviewed_by)}</span>` : ""}` : "";
const FEED_COLS = [
  ["date and time", (i) => esc(when(i.created_at))],
  ["serial", (i) => esc(i.serial)],
  ["station", (i) => esc(i.station_id)],
  ["verdict", (i) => verdict(i.verdict) + (i.status === "failed" ? " <span class='error'>not inspected</span>" : i.status !== "done" ? ` ${esc(i.status)}` : "")],
  ["reviewed", reviewedCell],
  ["reasons", (i) => esc((i.reasons || []).join(", "))],
];
function bindRows() {
  document.querySelectorAll("tr.row[data-id]").forEach((tr) => tr.addEventListener("click", () => (location.hash = `#/inspection/${tr.dataset.id}`)));
}

// -- feed: search, filters, paging ------------------------------------------------------------
function feedQuery(cursor) {
  const q = new URLSearchParams({ limit: "50" });
  for (const [k, v] of Object.entries(FEED.filters)) if (v) q.set(k, v);
  if (cursor) q.set("cursor", cursor);
  return `/v1/inspections?${q}`;
}
function renderFeed() {
  const items = [...feed.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  const f = FEED.filters;
  $("#main").innerHTML = `<h2>Live feed</h2>
    <form id="feed-filters" class="filters" autocomplete="off">
      <label>serial <input id="f-serial" value="${esc(f.serial || "")}" placeholder="search by serial"></label>
      <label>verdict <select id="f-verdict">${["", "PASS", "FAIL", "REVIEW"].map((v) => `<option ${f.verdict === v ? "selected" : ""}>${v}</option>`).join("")}</select></label>
      <label>station <input id="f-station" value="${esc(f.station_id || "")}" size="10"></label>
      <label>reviewed <select id="f-reviewed">${[["", "any"], ["true", "yes"], ["false", "no"]].map(([v, t]) => `<option value="${v}" ${f.reviewed === v ? "selected" : ""}>${t}</option>`).join("")}</select></label>
      <label>since <input id="f-since" type="date" value="${esc(f.since ? f.since.slice(0, 10) : "")}"></label>
      <button type="submit">Search</button>
    </form>
    ${items.length ? table(items, FEED_COLS, "feed") : "<p class='hint'>no boards yet</p>"}
    <p class="pager">${FEED.cursors.length ? `<button id="newer">← newer</button>` : ""} page ${FEED.cursors.length + 1}
      ${FEED.next ? `<button id="older">older →</button>` : ""}</p>`;
  bindRows();
  $("#feed-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    const s = $("#f-since").value;
    FEED.filters = { serial: $("#f-serial").value.trim(), verdict: $("#f-verdict").value, station_id: $("#f-station").value.trim(),
      reviewed: $("#f-reviewed").value, since: s ? `${s}T00:00:00` : "" };
    FEED.cursors = [];
    loadFeed(null);
  });
  const older = $("#older"), newer = $("#newer");
  if (older) older.addEventListener("click", () => { FEED.cursors.push(FEED.current || ""); loadFeed(FEED.next); });
  if (newer) newer.addEventListener("click", () => loadFeed(FEED.cursors.pop() || null));
}
async function loadFeed(cursor) {
  const page = await api(feedQuery(cursor));
  FEED.current = cursor;
  FEED.next = page.next_cursor;
  feed.clear();
  for (const it of page.items) feed.set(it.id, it);
  renderFeed();
}
const showFeed = () => loadFeed(null);
async function showReview() {
  const page = await api("/v1/inspections?verdict=REVIEW&reviewed=false&status=done&limit=200");
  $("#main").innerHTML = `<h2>Review queue</h2>${page.items.length ? table(page.items, FEED_COLS) : "<p class='hint'>nothing to review</p>"}`;
  bindRows();
}

// -- charts (SVG) -------------------------------------------------------------------------------
function bars(rows, { width = 520, bar = 18, label = (r) => r.label, value = (r) => r.value, color = () => "#4a7bd0", text = (r) => String(value(r)) } = {}) {
  const max = Math.max(1e-9, ...rows.map(value));
  const lw = 150, rm = 210, h = rows.length * (bar + 6) + 6;
  return `<svg class="bars" viewBox="0 0 ${width} ${h}" width="100%" style="max-width:${width}px" role="img">${rows.map((r, i) => {
    const y = 6 + i * (bar + 6), w = ((width - lw - rm) * value(r)) / max;
    return `<text x="${lw - 6}" y="${y + bar * 0.72}" text-anchor="end">${esc(label(r))}</text>
      <rect x="${lw}" y="${y}" width="${Math.max(1, w)}" height="${bar}" fill="${color(r)}"><title>${esc(label(r))}: ${esc(text(r))}</title></rect>
      <text x="${lw + w + 4}" y="${y + bar * 0.72}">${esc(text(r))}</text>`;
  }).join("")}</svg>`;
}

function controlChart(ch, { lsl, usl, unit = "", height = 260 } = {}) {
  const pts = ch.points, n = pts.length;
  if (!n) return "<p class='hint'>no points</p>";
  const W = 900, H = height, L = 64, R = 90, T = 14, B = 30;
  const lims = [ch.ucl, ch.lcl, ch.centre, lsl, usl].filter((v) => v != null);
  let lo = Math.min(...pts, ...lims), hi = Math.max(...pts, ...lims);
  const pad = (hi - lo) * 0.08 || 1;
  lo -= pad; hi += pad;
  const x = (i) => L + (n === 1 ? 0 : ((W - L - R) * i) / (n - 1));
  const y = (v) => T + ((H - T - B) * (hi - v)) / (hi - lo);
  const hit = new Map();
  for (const h of ch.hits) {
    const i = h.index - ch.first_index;
    if (i >= 0 && i < n) hit.set(i, [...(hit.get(i) || []), h]);
  }
  const line = (v, cls, name) => v == null ? "" : `<line class="${cls}" x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}"/>
    <text class="lim-label ${cls}" x="${W - R + 4}" y="${y(v) + 4}">${name} ${num(v, 3)}</text>`;
  const path = pts.map((v, i) => `${i ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join("");
  const ticks = [0, Math.floor((n - 1) / 2), n - 1].filter((v, i, a) => a.indexOf(v) === i);
  return `<svg class="chart" viewBox="0 0 ${W} ${H}" width="100%" role="img" aria-label="control chart">
    <rect x="${L}" y="${T}" width="${W - L - R}" height="${H - T - B}" class="plot"/>
    ${line(usl, "spec", "USL")}${line(lsl, "spec", "LSL")}${line(ch.ucl, "ucl", "UCL")}${line(ch.lcl, "lcl", "LCL")}${line(ch.centre, "centre", "CL")}
    <path class="series" d="${path}"/>
    ${pts.map((v, i) => {
      const hs = hit.get(i);
      const tip = `${ch.serials && ch.serials[i] ? ch.serials[i] + " · " : ""}${ch.at && ch.at[i] ? when(ch.at[i]) + " · " : ""}${num(v)} ${unit}${hs ? " · " + hs.map((h) => `rule ${h.rule}: ${h.text}`).join("; ") : ""}`;
      return `<circle class="${hs ? "pt hit" : "pt"}" cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="${hs ? 4.5 : 2.5}" data-i="${i}"><title>${esc(tip)}</title></circle>`;
    }).join("")}
    ${[lo + pad, (lo + hi) / 2, hi - pad].map((v) => `<text class="axis" x="${L - 6}" y="${y(v) + 4}" text-anchor="end">${num(v, 3)}</text>`).join("")}
    ${ticks.map((i, k) => `<text class="axis" x="${x(i)}" y="${H - 8}" text-anchor="${k === 0 ? "start" : k === ticks.length - 1 ? "end" : "middle"}">${esc(ch.at && ch.at[i] ? when(ch.at[i]) : "#" + (i + ch.first_index))}</text>`).join("")}
  </svg>`;
}

function heatmap(layout, byPin, boards) {
  if (!layout || !layout.pins || !Object.keys(layout.pins).length) return "";
  const [bw, bd] = layout.board_mm, S = Math.min(560 / bw, 260 / bd), W = bw * S, H = bd * S;
  const rate = Object.fromEntries(byPin.map((p) => [p.pin, p]));
  const max = Math.max(1e-9, ...byPin.map((p) => p.FAIL + p.REVIEW));
  return `<svg class="heat" viewBox="-10 -10 ${W + 20} ${H + 20}" width="100%" style="max-width:${W + 20}px" role="img" aria-label="FAIL and REVIEW by pin position">
    <rect x="0" y="0" width="${W}" height="${H}" class="pcb"/>
    ${Object.entries(layout.pins).map(([id, [px, py]]) => {
      const r = rate[id] || { FAIL: 0, REVIEW: 0 }, k = (r.FAIL + r.REVIEW) / max;
      const fill = k ? `rgba(${Math.round(200 + 55 * k)},${Math.round(200 - 170 * k)},${Math.round(60 - 40 * k)},${0.35 + 0.65 * k})` : "#d9e7d5";
      return `<g><circle cx="${px * S}" cy="${H - py * S}" r="${Math.max(7, 0.8 * S)}" fill="${fill}" stroke="#333"><title>${esc(id)}: ${r.FAIL} FAIL, ${r.REVIEW} REVIEW of ${boards} boards</title></circle>
        <text x="${px * S}" y="${H - py * S + 4}" text-anchor="middle" class="pinlabel">${esc(id)}</text></g>`;
    }).join("")}</svg>`;
}

// -- dashboard --------------------------------------------------------------------------------
async function showDashboard() {
  const recipes = await api("/v1/recipes");
  const sel = localStorage.getItem("pogoscope.recipe") || "";
  const rid = recipes.some((r) => r.recipe_id === sel) ? sel : "";
  const q = rid ? `?recipe_id=${enc(rid)}` : "";
  const [y, p, al] = await Promise.all([api(`/v1/stats/yield${q}`), api(`/v1/stats/pareto${q}`), api(`/v1/alarms?open=true${rid ? "&recipe_id=" + enc(rid) : ""}`)]);
  const fp = y.first_pass, rv = y.reviewed;
  const reasons = p.by_reason.slice(0, 12);
  $("#main").innerHTML = `<h2>Dashboard ${rid ? "· " + esc(rid) : "· all recipes"}</h2>
    <p><label>recipe <select id="dash-recipe"><option value="">all</option>${recipes.map((r) => `<option ${r.recipe_id === rid ? "selected" : ""}>${esc(r.recipe_id)}</option>`).join("")}</select></label>
      ${rid ? `<a href="#/spc/${enc(rid)}">SPC charts of ${esc(rid)} →</a>` : ""}</p>
    <div class="cards">
      <div class="card"><b id="fpy">${pct(fp.first_pass_yield)}</b><span>first-pass yield (${fp.boards} boards)</span></div>
      <div class="card"><b>${pct(y.total.pass_rate)}</b><span>pass rate, all ${y.total.boards} inspections</span></div>
      <div class="card"><b>${y.total.FAIL}</b><span>FAIL</span></div>
      <div class="card"><b>${y.total.REVIEW}</b><span>REVIEW (${rv.review_pending} waiting)</span></div>
      <div class="card"><b>${pct(rv.false_call_rate)}</b><span>false calls: REVIEW → PASS by a reviewer (${rv.review_to_pass}/${rv.review_reviewed})</span></div>
      <div class="card ${al.items.length ? "alarm" : ""}"><b id="alarm-count">${al.items.length}</b><span>open SPC alarms</span></div>
    </div>
    <div class="grid">
      <section><h3>Open SPC alarms</h3>${al.items.length ? `<ul id="alarms">${al.items.map((a) =>
        `<li><a href="${esc(a.chart_url.replace("/ui/", ""))}">${esc(a.recipe_id)} · ${esc(a.measurement)} · ${esc(a.pin)}</a> — ${esc(a.detail)} <span class="hint">since ${esc(when(a.opened_at))}</span></li>`).join("")}</ul>` : "<p class='hint'>none</p>"}</section>
      <section><h3>Pareto: FAIL and REVIEW by reason</h3>${reasons.length ? bars(reasons, { label: (r) => `${r.reason} (${r.verdict})`, value: (r) => r.boards,
        color: (r) => r.verdict === "FAIL" ? "#c0262d" : "#d9a400", text: (r) => `${r.boards} boards, ${pct(r.share)}` }) : "<p class='hint'>no FAIL or REVIEW</p>"}
        ${p.not_inspected.length ? `<p class="error">${p.not_inspected.reduce((a, b) => a + b.boards, 0)} boards could not be inspected</p>` : ""}</section>
      <section><h3>By pin position</h3>${rid ? heatmap(p.layout, p.by_pin, p.boards) || "<p class='hint'>no layout</p>" : "<p class='hint'>choose a recipe for the board map</p>"}
        ${p.by_pin.length ? bars([...p.by_pin].sort((a, b) => b.FAIL + b.REVIEW - a.FAIL - a.REVIEW).slice(0, 8), { label: (r) => r.pin, value: (r) => r.FAIL + r.REVIEW,
          color: () => "#a0522d", text: (r) => `${r.FAIL} FAIL, ${r.REVIEW} REVIEW` }) : ""}</section>
      <section><h3>By station</h3>${table(Object.entries(y.by_station).map(([k, v]) => ({ id: k, ...v })),
        [["station", (r) => esc(r.id)], ["boards", (r) => r.boards], ["PASS", (r) => r.PASS], ["FAIL", (r) => r.FAIL], ["REVIEW", (r) => r.REVIEW], ["pass rate", (r) => pct(r.pass_rate)]])}
        <h3>By shift (UTC)</h3>${table(Object.entries(y.by_shift).map(([k, v]) => ({ id: k, ...v })),
        [["shift", (r) => esc(r.id)], ["boards", (r) => r.boards], ["pass rate", (r) => pct(r.pass_rate)]])}</section>
      <section class="wide"><h3>By hour</h3>${y.by_hour.length ? bars(y.by_hour.slice(-24), { width: 900, bar: 12, label: (r) => r.hour + ":00", value: (r) => r.boards,
        color: (r) => r.pass_rate != null && r.pass_rate < 0.9 ? "#c0262d" : "#2c8a4b", text: (r) => `${r.boards} boards, ${pct(r.pass_rate)} pass` }) : ""}</section>
    </div>`;
  $("#dash-recipe").addEventListener("change", (e) => { localStorage.setItem("pogoscope.recipe", e.target.value); showDashboard(); });
}

// -- SPC --------------------------------------------------------------------------------------
async function showSpc(parts) {
  const [rid, meas, pin] = parts.map(decodeURIComponent);
  if (!rid) {
    const recipes = await api("/v1/recipes");
    $("#main").innerHTML = `<h2>SPC</h2><p>Choose a recipe:</p><ul>${recipes.map((r) => `<li><a href="#/spc/${enc(r.recipe_id)}">${esc(r.recipe_id)}</a></li>`).join("")}</ul>`;
    return;
  }
  const ms = (await api(`/v1/spc/${enc(rid)}`)).measurements;
  const m = meas || (ms.includes("tilt_deg") ? "tilt_deg" : ms[0]);
  if (!m) { $("#main").innerHTML = `<h2>SPC · ${esc(rid)}</h2><p class="hint">no stored measurements yet</p>`; return; }
  const rep = await api(`/v1/spc/${enc(rid)}/${enc(m)}${pin ? "?pin=" + enc(pin) : ""}`);
  const unit = m.endsWith("_deg") ? "deg" : m.endsWith("_mm") ? "mm" : m.endsWith("_um") ? "µm" : "";
  const cols = [["pin", (p) => `<a href="#/spc/${enc(rid)}/${enc(m)}/${enc(p.pin)}">${esc(p.pin)}</a>`], ["n", (p) => p.n], ["mean", (p) => num(p.mean)],
    ["LCL … UCL", (p) => `${num(p.lcl, 3)} … ${num(p.ucl, 3)}`], ["σ (chart)", (p) => num(p.sigma_within, 3)], ["σ (all)", (p) => num(p.sigma_overall, 3)],
    ["u (gauge)", (p) => `${num(p.u_rms, 2)}${p.u_over_sigma != null ? ` <span class="hint">(${(100 * p.u_over_sigma).toFixed(0)} % of σ)</span>` : ""}`],
    ["Cpk [95 % CI]", (p) => ci(p.cpk)], ["Ppk [95 % CI]", (p) => ci(p.ppk)],
    ["rule hits", (p) => p.hits ? `<span class="error">${p.hits} (rules ${p.rules_hit.join(", ")})</span>` : "0"]];
  const c = rep.chart;
  $("#main").innerHTML = `<h2>SPC · ${esc(rid)} · <select id="spc-meas">${ms.map((x) => `<option ${x === m ? "selected" : ""}>${esc(x)}</option>`).join("")}</select>
      ${pin ? ` · pin <span id="spc-pin">${esc(pin)}</span>` : ""}</h2>
    <p class="hint">spec ${rep.lsl ?? "—"} … ${rep.usl ?? "—"} ${esc(unit)} · control limits from each pin's first ${rep.pins[0].baseline_points} values ·
      rule hits among the newest ${rep.window_points} · worst Ppk first</p>
    ${c ? `<section id="chart-box"><h3>${esc(pin)}: ${c.kind === "individuals" ? "individuals" : esc(c.kind)} chart (${c.points.length} of ${c.n_points} points; ${groupHits(c.hits).length} points hit a rule)</h3>
      ${controlChart(c, { lsl: rep.lsl, usl: rep.usl, unit })}
      <p>Cpk ${ci(rep.capability.cpk)} · Ppk ${ci(rep.capability.ppk)} · σ ${num(rep.spread.sigma_within, 3)} (chart), ${num(rep.spread.sigma_overall, 3)} (all) ·
        gauge uncertainty u = ${num(rep.spread.u_rms, 2)} ${esc(unit)}${rep.spread.u_over_sigma != null ? ` (${(100 * rep.spread.u_over_sigma).toFixed(0)} % of the spread)` : ""}</p>
      <h4>Moving range</h4>${controlChart({ ...c, points: c.spread.map((v) => v ?? 0), ucl: c.spread_ucl, lcl: c.spread_lcl, centre: c.spread_centre, hits: [] }, { height: 140 })}
      ${c.hits.length ? `<h4>Rule hits (newest first)</h4><ul id="hits">${groupHits(c.hits).slice(-12).reverse().map(([idx, hs]) => {
        const i = idx - c.first_index;
        return `<li>${esc(when(c.at[i]))} · ${c.inspection_ids[i] ? `<a href="#/inspection/${esc(c.inspection_ids[i])}">${esc(c.serials[i])}</a>` : ""} · ${num(c.points[i])} ${esc(unit)}: ${hs.map((h) => `rule ${h.rule}, ${esc(h.text)}`).join("; ")}</li>`;
      }).join("")}</ul>` : ""}</section>` : "<p class='hint'>click a pin for its chart</p>"}
    ${table(rep.pins.map((p) => ({ ...p, id: p.pin })), cols, "spc-table")}`;
  $("#spc-meas").addEventListener("change", (e) => (location.hash = `#/spc/${enc(rid)}/${enc(e.target.value)}${pin ? "/" + enc(pin) : ""}`));
  document.querySelectorAll(".spc-table tr.row").forEach((tr) => tr.addEventListener("click", () => (location.hash = `#/spc/${enc(rid)}/${enc(m)}/${enc(tr.dataset.id)}`)));
}

function groupHits(hits) {
  const m = new Map();
  for (const h of hits) m.set(h.index, [...(m.get(h.index) || []), h]);
  return [...m.entries()].sort((a, b) => a[0] - b[0]);
}

// -- one inspection -----------------------------------------------------------------------------
function explain(d, items) {
  if (d.status === "failed") return `This board was not inspected: ${d.error || "the inspection failed"}. Nothing was measured, so it has no verdict; fix the cause and submit it again.`;
  if (d.status !== "done") return `This board is ${d.status}; the result appears here when a worker has inspected it.`;
  const bad = items.filter((p) => p.verdict !== "PASS");
  const say = (p) => `${p.id} (${p.reasons.join(", ") || p.verdict})`;
  const fails = bad.filter((p) => p.verdict === "FAIL"), reviews = bad.filter((p) => p.verdict === "REVIEW");
  if (!bad.length) return `Every one of the ${items.length} pins passed every required check.`;
  const parts = [];
  if (fails.length) parts.push(`${fails.length} of ${items.length} pins fail: ${fails.slice(0, 6).map(say).join("; ")}${fails.length > 6 ? "; …" : ""}`);
  if (reviews.length) parts.push(`${reviews.length} need a human look: ${reviews.slice(0, 6).map(say).join("; ")}${reviews.length > 6 ? "; …" : ""}`);
  return `${d.verdict} because ${parts.join(", and ")}.`;
}
// measurement columns shown when any pin has a value (heights, gap, wicking, coplanarity only when measured)
const MEAS_ORDER = ["tilt_deg", "tilt_azimuth_deg", "xy_error_mm", "pitch_error_mm", "tip_height_mm", "tip_height_error_mm", "coplanarity_mm",
  "seating_gap_mm", "plunger_depression_mm", "plunger_protrusion_mm", "wicking_above_flange_mm", "compression_pct", "tip_pad_margin_mm",
  "scratch_max_length_mm", "oxidation_area_fraction", "flatness_pv_um", "roughness_sa_um"];

async function showInspection(id) {
  const d = await api(`/v1/inspections/${encodeURIComponent(id)}`);
  const res = d.result || { pins: [], pads: [], board: {} };
  const items = [...(res.pins || []), ...(res.pads || [])];
  const names = Object.keys(d.overlays || {}).sort((a, b) => (a !== "top") - (b !== "top") || (a < b ? -1 : 1));
  const mainName = names.includes("top") ? "top" : null;
  const img = mainName ? d.overlays.top : d.overlay_url ? null : d.images.top && d.status === "done" ? d.images.top.url : null;
  const others = Object.entries(d.images).map(([v, im]) => `<a href="${esc(withKey(im.url))}" target="_blank">${esc(v)} original</a>`).join(" · ");
  const measured = new Set(items.flatMap((p) => Object.entries(p.measurements).filter(([, m]) => m && m.value != null).map(([k]) => k)));
  const mcols = [...MEAS_ORDER.filter((k) => measured.has(k)), ...[...measured].filter((k) => !MEAS_ORDER.includes(k)).sort()];
  const reviewed = d.reviewed_verdict ? `<span id="reviewed-verdict" class="reviewed">→ reviewed ${verdict(d.reviewed_verdict)} <span class="hint">by ${esc(d.reviewed_by)}, ${esc(when(d.reviewed_at))}</span></span>` : "";
  $("#main").innerHTML = `
    <h2>Board <span id="serial">${esc(d.serial)}</span> · <span id="board-verdict">${verdict(d.verdict)}</span> ${reviewed}
      ${d.status !== "done" ? `<span class="badge">${esc(d.status === "failed" ? "not inspected" : d.status)}</span>` : ""}</h2>
    <p>recipe ${esc(d.recipe.id)}@${d.recipe.version} · station ${esc(d.station_id)} · ${esc(when(d.created_at))}
      · calibrations ${esc(Object.entries(d.calibrations).map(([k, c]) => `${k}: ${c.camera_id}@${c.version}`).join(", "))}</p>
    <p id="explain" class="${d.status === "failed" ? "error" : "explain"}">${esc(explain(d, items))}</p>
    ${res.board && res.board.measurements && Object.keys(res.board.measurements).length ? `<p>board: ${Object.entries(res.board.measurements).map(([k, m]) => `${esc(k)} ${fmt(m)}`).join(" · ")}</p>` : ""}
    <p>${others} ${d.stacks.length ? "· focus stacks: " + esc(d.stacks.join(", ")) : ""}</p>
    <div class="board">
      <div class="imgwrap" id="imgwrap">${img ? `<img id="overlay" alt="overlay" src="${esc(withKey(img))}">` : d.status === "done" ? "<p class='hint'>no overlay stored for this board</p>" : ""}</div>
      <div id="pin-detail"><p class="hint">click a pin</p></div>
    </div>
    ${names.filter((n) => n !== mainName).map((n) =>
      `<figure class="view"><figcaption>${esc(n)}</figcaption><img class="other-overlay" alt="${esc(n)}" src="${esc(withKey(d.overlays[n]))}"></figure>`).join("")}
    <h3>Pins and pads</h3>
    ${items.length ? table(items, [["id", (p) => esc(p.id) + (p.reasons.includes("missing") ? " <span class='missing-tag'>missing</span>" : "")], ["verdict", (p) => verdict(p.verdict)],
      ...mcols.map((k) => [esc(k), (p) => fmt(p.measurements[k])]), ["reasons", (p) => esc(p.reasons.join(", "))]], "pins") : "<p class='hint'>no pins measured</p>"}
    <h3>Human verification</h3>
    <div id="reviews">${d.reviews.map((r) => `<p class="review">${verdict(r.verdict)} by ${esc(r.reviewer)}: ${esc(r.reason)} (${esc(when(r.created_at))})</p>`).join("") || "<p class='hint'>not reviewed</p>"}</div>
    ${d.status === "done" ? `<form id="review-form">
      <label>verdict <select id="review-verdict"><option>PASS</option><option>FAIL</option></select></label>
      <label>why <input id="review-reason" size="40" required minlength="3"></label>
      <button type="submit">Record review</button> <span id="review-msg"></span></form>` : ""}`;
  const pick = (pid) => {
    const p = items.find((x) => x.id === pid);
    document.querySelectorAll(".sel").forEach((e) => e.classList.remove("sel"));
    document.querySelectorAll(`[data-id="${CSS.escape(pid)}"]`).forEach((e) => e.classList.add("sel"));
    $("#pin-detail").innerHTML = `<h3>${esc(p.id)} ${verdict(p.verdict)}</h3>
      <table class="meas">${Object.entries(p.measurements).map(([k, m]) => `<tr><td><a href="#/spc/${enc(d.recipe.id)}/${enc(k)}/${enc(p.id)}">${esc(k)}</a></td><td>${fmt(m)}${m.value == null ? ` <span class="hint">${esc(m.not_measured)}</span>` : ""}</td><td>${esc(m.source)}</td></tr>`).join("")}</table>
      <p>reasons: ${esc(p.reasons.join(", ") || "none")}</p>
      <ul>${(p.decisions || []).filter((x) => x.verdict !== "PASS").map((x) => `<li>${esc(x.check)}: ${esc(x.detail)}</li>`).join("")}</ul>`;
  };
  const im = $("#overlay");
  const place = () => {
    for (const p of items) {
      const px = p.image_px["top.tip"] || p.image_px["top.base"] || p.image_px["top.center"];
      if (!px || !im.naturalWidth) continue;
      const missing = p.reasons.includes("missing");
      const dot = document.createElement("div");
      dot.className = `pin ${p.verdict}${missing ? " missing" : ""}`;
      dot.dataset.id = p.id;
      dot.title = `${p.id} ${p.verdict}${p.reasons.length ? ": " + p.reasons.join(", ") : ""}`;
      dot.style.left = `${(100 * px[0]) / im.naturalWidth}%`;
      dot.style.top = `${(100 * px[1]) / im.naturalHeight}%`;
      dot.innerHTML = `<span class="pin-label">${esc(p.id)}</span>${missing ? "<span class='x'>✕</span>" : ""}`;
      dot.addEventListener("click", () => pick(p.id));
      $("#imgwrap").appendChild(dot);
    }
  };
  if (im) {
    im.addEventListener("error", () => { im.replaceWith(Object.assign(document.createElement("p"), { className: "hint", textContent: "the overlay image could not be loaded" })); });
    (im.complete && im.naturalWidth) ? place() : im.addEventListener("load", place);
  }
  document.querySelectorAll("#main table.pins tr.row").forEach((tr) => tr.addEventListener("click", () => pick(tr.dataset.id)));
  const form = $("#review-form");
  if (form) form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api(`/v1/inspections/${encodeURIComponent(id)}/reviews`, { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ verdict: $("#review-verdict").value, reason: $("#review-reason").value }) });
      await showInspection(id);
    } catch (err) { $("#review-msg").innerHTML = `<span class="error">${esc(err.message)}</span>`; }
  });
}

function showUpload() {
  $("#main").innerHTML = `<h2>Microscope upload</h2>
    <form id="upload-form">
      <fieldset><label>serial <input name="serial" required></label>
      <label>recipe <input name="recipe_id" required></label>
      <label>stack name <input name="stack_name" value="pins"></label>
      <label>kind <select name="kind"><option>board</option><option>pad</option></select></label></fieldset>
      <fieldset><label>manifest (CSV file,z_mm or JSON) <input type="file" name="manifest" required></label>
      <label>slices <input type="file" name="slices" multiple required></label></fieldset>
      <button type="submit">Upload</button> <progress id="upload-progress" max="100" value="0"></progress> <span id="upload-msg"></span>
    </form>`;
  $("#upload-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/microscope/stacks");
    xhr.setRequestHeader("X-API-Key", KEY);
    xhr.upload.onprogress = (p) => { if (p.lengthComputable) $("#upload-progress").value = (100 * p.loaded) / p.total; };
    xhr.onload = () => {
      const body = JSON.parse(xhr.responseText || "{}");
      $("#upload-msg").innerHTML = xhr.status === 202 ? `accepted: <a href="#/inspection/${esc(body.id)}">${esc(body.id)}</a>`
        : `<span class="error">${esc(body.detail || xhr.status)}</span>`;
    };
    xhr.send(new FormData(e.target));
  });
}
async function showRecipes() {
  const rs = await api("/v1/recipes");
  $("#main").innerHTML = `<h2>Recipes</h2>${table(rs.map((r) => ({ ...r, id: r.recipe_id })), [["recipe", (r) => esc(r.recipe_id)], ["latest", (r) => r.latest_version], ["versions", (r) => r.versions.join(", ")],
    ["", (r) => `<a href="#/spc/${enc(r.recipe_id)}">SPC</a>`]])}`;
}
async function showCalibrations() {
  const cs = await api("/v1/calibrations");
  $("#main").innerHTML = `<h2>Calibrations</h2>${table(cs.map((c) => ({ ...c, id: c.camera_id })), [["camera", (c) => esc(c.camera_id)], ["version", (c) => c.version],
    ["view", (c) => esc(c.view)], ["station", (c) => esc(c.station_id || "any")], ["model", (c) => esc(c.record.model)],
    ["mm/px", (c) => c.record.mm_per_px ? (+c.record.mm_per_px).toPrecision(5) : ""], ["created", (c) => esc(when(c.created_at))]])}`;
}

async function route() {
  const h = location.hash || "#/dashboard";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", h.startsWith(a.getAttribute("href"))));
  if (!KEY) return;
  try {
    if (h.startsWith("#/inspection/")) await showInspection(h.slice("#/inspection/".length));
    else if (h.startsWith("#/review")) await showReview();
    else if (h.startsWith("#/feed")) await showFeed();
    else if (h.startsWith("#/spc")) await showSpc(h.slice("#/spc".length).split("/").filter(Boolean));
    else if (h.startsWith("#/upload")) showUpload();
    else if (h.startsWith("#/recipes")) await showRecipes();
    else if (h.startsWith("#/calibrations")) await showCalibrations();
    else await showDashboard();
  } catch (err) {
    $("#main").innerHTML = `<p class="error" id="error">${esc(err.message)}</p>`;
  }
}

$("#key-form").addEventListener("submit", (e) => {
  e.preventDefault();
  KEY = $("#api-key").value.trim();
  localStorage.setItem("pogoscope.key", KEY);
  connect();
  route();
});
$("#serial-search").addEventListener("submit", (e) => {
  e.preventDefault();
  FEED.filters = { serial: $("#serial-q").value.trim() };
  FEED.cursors = [];
  if (location.hash.startsWith("#/feed")) showFeed(); else location.hash = "#/feed";
});
window.addEventListener("hashchange", route);
if (KEY) { connect(); route(); }
