// pogoscope review page: plain JS against the /v1 API. The API key lives in localStorage and goes
// in the X-API-Key header (and ?api_key= for EventSource and <img>, which cannot send headers).
"use strict";
const $ = (s, el = document) => el.querySelector(s);
const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
let KEY = localStorage.getItem("pogoscope.key") || "";
let source = null;
const feed = new Map(); // id -> summary

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { "X-API-Key": KEY, ...(opts.headers || {}) } });
  const ct = r.headers.get("content-type") || "";
  const body = ct.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body.detail || `${r.status}`);
  return body;
}
const withKey = (url) => `${url}${url.includes("?") ? "&" : "?"}api_key=${encodeURIComponent(KEY)}`;
const verdict = (v) => v ? `<span class="v-${esc(v)}">${esc(v)}</span>` : "";
const fmt = (m) => m == null ? "" : m.value == null ? `n/m (${esc(m.not_measured)})` : `${(+m.value).toPrecision(4)} ± ${(+m.uncertainty).toPrecision(2)} ${esc(m.unit)}`;

function connect() {
  if (source) source.close();
  if (!KEY) return;
  source = new EventSource(withKey("/v1/events"));
  source.onopen = () => $("#live").classList.add("on");
  source.onerror = () => $("#live").classList.remove("on");
  const onEvent = (e) => {
    const ev = JSON.parse(e.data), d = ev.data;
    feed.set(d.inspection_id, { id: d.inspection_id, serial: d.serial, station_id: d.station_id, status: d.status, verdict: d.verdict,
      reasons: d.reasons, created_at: ev.created_at, recipe: d.recipe, reviewed_verdict: d.review ? d.review.verdict : (feed.get(d.inspection_id) || {}).reviewed_verdict });
    const route = location.hash || "#/feed";
    if (route.startsWith("#/feed")) renderFeed();
    if (route.startsWith("#/review")) showReview();
  };
  source.addEventListener("inspection.completed", onEvent);
  source.addEventListener("inspection.verified", onEvent);
}

function table(items, cols) {
  return `<table><thead><tr>${cols.map((c) => `<th>${c[0]}</th>`).join("")}</tr></thead><tbody>${items.map((it) =>
    `<tr class="row" data-id="${esc(it.id)}">${cols.map((c) => `<td>${c[1](it)}</td>`).join("")}</tr>`).join("")}</tbody></table>`;
}
const FEED_COLS = [
  ["time", (i) => esc(new Date(i.created_at).toLocaleTimeString())],
  ["serial", (i) => esc(i.serial)],
  ["station", (i) => esc(i.station_id)],
  ["verdict", (i) => verdict(i.verdict) + (i.status === "failed" ? " <span class='error'>failed</span>" : i.status !== "done" ? ` ${esc(i.status)}` : "")],
  ["reviewed", (i) => i.reviewed_verdict ? `→ ${verdict(i.reviewed_verdict)}` : ""],
  ["reasons", (i) => esc((i.reasons || []).join(", "))],
];

function renderFeed() {
  const items = [...feed.values()].sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  $("#main").innerHTML = `<h2>Live feed</h2>${items.length ? table(items, FEED_COLS) : "<p class='hint'>no boards yet</p>"}`;
  bindRows();
}
function bindRows() {
  document.querySelectorAll("tr.row[data-id]").forEach((tr) => tr.addEventListener("click", () => (location.hash = `#/inspection/${tr.dataset.id}`)));
}
async function showFeed() {
  const page = await api("/v1/inspections?limit=100");
  for (const it of page.items.reverse()) feed.set(it.id, it);
  renderFeed();
}
async function showReview() {
  const page = await api("/v1/inspections?verdict=REVIEW&reviewed=false&status=done&limit=200");
  $("#main").innerHTML = `<h2>Review queue</h2>${page.items.length ? table(page.items, FEED_COLS) : "<p class='hint'>nothing to review</p>"}`;
  bindRows();
}

async function showInspection(id) {
  const d = await api(`/v1/inspections/${encodeURIComponent(id)}`);
  const res = d.result || { pins: [], pads: [], board: {} };
  const items = [...(res.pins || []), ...(res.pads || [])];
  const img = d.overlay_url || (d.images.top && d.images.top.url);
  const others = Object.entries(d.images).map(([v, im]) => `<a href="${esc(withKey(im.url))}" target="_blank">${esc(v)} original</a>`).join(" · ");
  $("#main").innerHTML = `
    <h2>Board <span id="serial">${esc(d.serial)}</span> · <span id="board-verdict">${verdict(d.verdict)}</span>
      ${d.status !== "done" ? `<span class="badge">${esc(d.status)}</span>` : ""}</h2>
    <p>recipe ${esc(d.recipe.id)}@${d.recipe.version} · station ${esc(d.station_id)} · ${esc(new Date(d.created_at).toLocaleString())}
      · calibrations ${esc(Object.entries(d.calibrations).map(([k, c]) => `${k}: ${c.camera_id}@${c.version}`).join(", "))}</p>
    ${d.error ? `<p class="error" id="error">${esc(d.error)}</p>` : ""}
    <p>${esc((d.reasons || []).join(", "))} ${others} ${d.stacks.length ? "· focus stacks: " + esc(d.stacks.join(", ")) : ""}</p>
    <div class="board">
      <div class="imgwrap" id="imgwrap">${img ? `<img id="overlay" alt="overlay" src="${esc(withKey(img))}">` : ""}</div>
      <div id="pin-detail"><p class="hint">click a pin</p></div>
    </div>
    ${Object.entries(d.overlays).filter(([, u]) => !img || !u.endsWith("/overlays/top.png")).map(([n, u]) =>
      `<figure class="view"><figcaption>${esc(n)}</figcaption><img class="other-overlay" alt="${esc(n)}" src="${esc(withKey(u))}"></figure>`).join("")}
    <h3>Pins and pads</h3>
    ${table(items, [["id", (p) => esc(p.id)], ["verdict", (p) => verdict(p.verdict)],
      ["tilt", (p) => fmt(p.measurements.tilt_deg)], ["xy error", (p) => fmt(p.measurements.xy_error_mm)],
      ["reasons", (p) => esc(p.reasons.join(", "))]])}
    <h3>Human verification</h3>
    <div id="reviews">${d.reviews.map((r) => `<p class="review">${verdict(r.verdict)} by ${esc(r.reviewer)}: ${esc(r.reason)} (${esc(new Date(r.created_at).toLocaleString())})</p>`).join("") || "<p class='hint'>not reviewed</p>"}</div>
    ${d.status === "done" ? `<form id="review-form">
      <label>verdict <select id="review-verdict"><option>PASS</option><option>FAIL</option></select></label>
      <label>why <input id="review-reason" size="40" required minlength="3"></label>
      <button type="submit">Record review</button> <span id="review-msg"></span></form>` : ""}`;
  const pick = (pid) => {
    const p = items.find((x) => x.id === pid);
    document.querySelectorAll(".sel").forEach((e) => e.classList.remove("sel"));
    document.querySelectorAll(`[data-id="${CSS.escape(pid)}"]`).forEach((e) => e.classList.add("sel"));
    $("#pin-detail").innerHTML = `<h3>${esc(p.id)} ${verdict(p.verdict)}</h3>
      <table class="meas">${Object.entries(p.measurements).map(([k, m]) => `<tr><td>${esc(k)}</td><td>${fmt(m)}</td><td>${esc(m.source)}</td></tr>`).join("")}</table>
      <p>reasons: ${esc(p.reasons.join(", ") || "none")}</p>
      <ul>${(p.decisions || []).filter((x) => x.verdict !== "PASS").map((x) => `<li>${esc(x.check)}: ${esc(x.detail)}</li>`).join("")}</ul>`;
  };
  const im = $("#overlay");
  const place = () => {
    for (const p of items) {
      const px = p.image_px["top.tip"] || p.image_px["top.base"];
      if (!px || !im.naturalWidth) continue;
      const dot = document.createElement("div");
      dot.className = `pin ${p.verdict}`;
      dot.dataset.id = p.id;
      dot.title = p.id;
      dot.style.left = `${(100 * px[0]) / im.naturalWidth}%`;
      dot.style.top = `${(100 * px[1]) / im.naturalHeight}%`;
      dot.addEventListener("click", () => pick(p.id));
      $("#imgwrap").appendChild(dot);
    }
  };
  if (im) (im.complete && im.naturalWidth) ? place() : im.addEventListener("load", place);
  document.querySelectorAll("#main tr.row").forEach((tr) => tr.addEventListener("click", () => pick(tr.dataset.id)));
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
  $("#main").innerHTML = `<h2>Recipes</h2>${table(rs.map((r) => ({ ...r, id: r.recipe_id })), [["recipe", (r) => esc(r.recipe_id)], ["latest", (r) => r.latest_version], ["versions", (r) => r.versions.join(", ")]])}`;
}
async function showCalibrations() {
  const cs = await api("/v1/calibrations");
  $("#main").innerHTML = `<h2>Calibrations</h2>${table(cs.map((c) => ({ ...c, id: c.camera_id })), [["camera", (c) => esc(c.camera_id)], ["version", (c) => c.version],
    ["view", (c) => esc(c.view)], ["station", (c) => esc(c.station_id || "any")], ["model", (c) => esc(c.record.model)],
    ["mm/px", (c) => c.record.mm_per_px ? (+c.record.mm_per_px).toPrecision(5) : ""], ["created", (c) => esc(new Date(c.created_at).toLocaleString())]])}`;
}

async function route() {
  const h = location.hash || "#/feed";
  document.querySelectorAll("nav a").forEach((a) => a.classList.toggle("active", h.startsWith(a.getAttribute("href"))));
  if (!KEY) return;
  try {
    if (h.startsWith("#/inspection/")) await showInspection(h.slice("#/inspection/".length));
    else if (h.startsWith("#/review")) await showReview();
    else if (h.startsWith("#/upload")) showUpload();
    else if (h.startsWith("#/recipes")) await showRecipes();
    else if (h.startsWith("#/calibrations")) await showCalibrations();
    else await showFeed();
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
window.addEventListener("hashchange", route);
if (KEY) { connect(); route(); }
