// VistaMatch search page. Plain ES2020, no build step.
// Rule: data from the server (file names, history fields) reaches the DOM only through
// textContent and setAttribute, never through innerHTML.
"use strict";

const TIER_SLUGS = new Set(["perfect", "excellent", "good", "just-so-so"]); // CSS colours per tier
const TIMING_PARTS = [
  ["preprocess", "Preprocess"],
  ["embed", "Embed"],
  ["search", "Search"],
  ["dedup_filter", "Dedup"],
];
const HISTORY_LIMIT = 200;

const $ = (id) => document.getElementById(id);

const state = {
  query: null,          // {kind: "upload", file} | {kind: "similar", path}
  previewUrl: null,     // object URL of the uploaded query, revoked on change
  flat: [],             // [{item, tier}] in rank order, for the modal
  modalIndex: -1,
  modalTrigger: null,
  busy: false,
  maxUploadBytes: null, // from /api/stats when the server tells it
};

// ---------- small DOM helpers ----------

/** Create an element; attrs go through setAttribute, text through textContent. */
function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  if (text !== null && text !== undefined) node.textContent = String(text);
  return node;
}

function tierSlug(name) {
  const slug = String(name).toLowerCase();
  return TIER_SLUGS.has(slug) ? slug : "other";
}

function fmtScore(x) {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(3) : "–";
}

function fmtMs(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) return "–";
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;
}

function fmtCount(n) {
  return typeof n === "number" ? n.toLocaleString() : "–";
}

/** "1 search", "3 searches". */
function plural(n, one, many) {
  return `${fmtCount(n)} ${n === 1 ? one : many}`;
}

function fmtBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)} MB` : `${Math.ceil(n / 1024)} KB`;
}

/** A history timestamp (ISO 8601, local time) as a Date, or null. */
function parseTime(ts) {
  const d = ts ? new Date(ts) : null;
  return d && !Number.isNaN(d.getTime()) ? d : null;
}

function fmtTime(ts) {
  const d = parseTime(ts);
  if (!d) return "";
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** The readable message of an error body: our `error` line, else FastAPI's `detail`. */
function messageOf(body) {
  if (!body || typeof body !== "object") return "";
  if (typeof body.error === "string") return body.error;
  if (typeof body.detail === "string") return body.detail;
  if (Array.isArray(body.detail)) {
    return body.detail.map((d) => [d.loc && d.loc.slice(-1)[0], d.msg].filter(Boolean).join(": ")).join("; ");
  }
  return "";
}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" }, ...options });
  } catch (err) {
    throw new ApiError(0, "The server did not answer.");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    body = null;
  }
  if (!response.ok || (body && body.ok === false)) {
    throw new ApiError(response.ok ? 500 : response.status, messageOf(body) || response.statusText);
  }
  return body;
}

// ---------- status and errors ----------

function setStatus(text) {
  $("status").textContent = text;
}

function explain(err) {
  const detail = err.message || "";
  switch (err.status) {
    case 0:
      return ["Server unreachable", "Could not reach the VistaMatch server. Check that it is running, then try again."];
    case 413:
      return ["Image too big", detail || "The file is larger than the upload limit."];
    case 400:
    case 415:
      return ["Not an image we can read", detail || "Choose a JPEG, PNG, WebP or another common image file."];
    case 422:
      return ["Invalid request", detail];
    case 404:
      return ["Not found", detail || "It may have been deleted."];
    case 503:
      return ["Server not ready", detail || "The model or the index is not loaded."];
    default:
      return ["Something went wrong", detail || `The server answered with status ${err.status}.`];
  }
}

function showError(err) {
  const [title, detail] = explain(err);
  $("error-title").textContent = title;
  $("error-detail").textContent = detail;
  $("error").hidden = false;
  setStatus("");
}

function hideError() {
  $("error").hidden = true;
}

// ---------- query: pick, drop, paste ----------

function setQueryPreview(src, name) {
  const img = $("query-preview");
  $("drop-empty").hidden = true;
  $("dropzone").classList.add("has-image");
  $("dropzone").classList.remove("no-preview");
  img.hidden = !src;
  if (src) img.setAttribute("src", src);
  else img.removeAttribute("src");
  img.setAttribute("alt", name ? `Query image ${name}` : "Query image");
  $("query-name").textContent = name || "";
  $("query-name").hidden = !name;
}

function setQueryFile(file) {
  if (!file) return;
  hideError();
  if (state.previewUrl) URL.revokeObjectURL(state.previewUrl);
  state.previewUrl = URL.createObjectURL(file);
  state.query = { kind: "upload", file };
  setQueryPreview(state.previewUrl, file.name || "pasted image");
  updateSearchButton();
  if (state.maxUploadBytes && file.size > state.maxUploadBytes) {
    showError(new ApiError(413, `${file.name || "This file"} is ${fmtBytes(file.size)}; the limit is ${fmtBytes(state.maxUploadBytes)}.`));
    return;
  }
  setStatus(`Ready to search with ${file.name || "the pasted image"}.`);
  $("search-btn").focus({ preventScroll: true });
}

function firstImageFile(list) {
  const files = Array.from(list || []);
  return files.find((f) => f.type.startsWith("image/")) || files[0] || null;
}

function bindQueryInputs() {
  $("file-input").addEventListener("change", (e) => {
    setQueryFile(e.target.files[0]);
    e.target.value = ""; // choosing the same file again still fires change
  });

  // A preview that cannot be decoded (not an image): show the name only; the server has the last word.
  $("query-preview").addEventListener("error", () => {
    $("query-preview").hidden = true;
    $("dropzone").classList.add("no-preview");
  });

  const zone = $("dropzone");
  let depth = 0;
  window.addEventListener("dragenter", (e) => {
    if (!e.dataTransfer || !Array.from(e.dataTransfer.types).includes("Files")) return;
    depth += 1;
    zone.classList.add("dragging");
  });
  window.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (depth === 0) zone.classList.remove("dragging");
  });
  // Without this, dropping a file anywhere on the page navigates away to it.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    depth = 0;
    zone.classList.remove("dragging");
    const file = firstImageFile(e.dataTransfer && e.dataTransfer.files);
    if (file) setQueryFile(file);
  });

  document.addEventListener("paste", (e) => {
    const items = Array.from((e.clipboardData && e.clipboardData.items) || []);
    const item = items.find((i) => i.kind === "file" && i.type.startsWith("image/"));
    if (!item) return;
    e.preventDefault();
    setQueryFile(item.getAsFile());
  });
}

// ---------- controls ----------

/** Top-K and dedup from the last visit; nothing if storage is empty, blocked or garbled. */
function readSettings() {
  try {
    return JSON.parse(localStorage.getItem("vistamatch.settings")) || {};
  } catch (err) {
    return {};
  }
}

function bindControls() {
  const topk = $("topk");
  const saved = readSettings();
  if (Number.isInteger(saved.topk) && saved.topk >= 1 && saved.topk <= 200) topk.value = String(saved.topk);
  if (typeof saved.dedup === "boolean") $("dedup").checked = saved.dedup;

  const save = () => {
    try {
      localStorage.setItem("vistamatch.settings", JSON.stringify({ topk: Number(topk.value), dedup: $("dedup").checked }));
    } catch (err) {
      // storage blocked (private mode): settings just do not persist
    }
  };
  const showTopk = () => {
    $("topk-value").textContent = topk.value;
    topk.style.setProperty("--fill", `${((topk.value - topk.min) / (topk.max - topk.min)) * 100}%`);
  };
  topk.addEventListener("input", showTopk);
  topk.addEventListener("change", save);
  $("dedup").addEventListener("change", save);
  showTopk();

  $("search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    runSearch();
  });
}

function updateSearchButton() {
  const btn = $("search-btn");
  btn.disabled = state.busy || !state.query;
  btn.classList.toggle("busy", state.busy);
  btn.setAttribute("aria-busy", String(state.busy));
  btn.querySelector(".search-btn-label").textContent = state.busy ? "Searching…" : "Search";
}

function setBusy(busy) {
  state.busy = busy;
  updateSearchButton();
  $("results").setAttribute("aria-busy", String(busy));
  document.body.classList.toggle("is-busy", busy);
}

// ---------- search ----------

function searchParams() {
  return { topk: Number($("topk").value), dedup: $("dedup").checked };
}

async function runSearch() {
  if (state.busy || !state.query) return;
  hideError();
  setBusy(true);
  setStatus("Searching…");
  try {
    let result;
    if (state.query.kind === "upload") {
      const form = new FormData();
      form.append("image", state.query.file, state.query.file.name || "pasted.png");
      result = await api(`api/search?${new URLSearchParams(searchParams())}`, { method: "POST", body: form });
    } else {
      result = await api("api/search/similar", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ path: state.query.path, ...searchParams() }),
      });
    }
    renderResult(result);
    loadGalleryInfo(); // searches served went up
    if ($("history").open) loadHistory();
    const ms = result.timing_ms && result.timing_ms.total;
    const warning = result.history_warning ? ` Not saved to history: ${result.history_warning}` : "";
    setStatus(`Found ${plural(result.topk_returned, "match", "matches")} in ${fmtMs(ms)}.${warning}`);
  } catch (err) {
    showError(err);
  } finally {
    setBusy(false);
  }
}

function searchSimilar(item) {
  closeModal();
  state.query = { kind: "similar", path: item.filename };
  setQueryPreview(item.thumb_url || item.url, item.filename);
  runSearch();
}

// ---------- results ----------

function renderStats(result) {
  const stats = $("stats");
  stats.replaceChildren();
  const timing = result.timing_ms || {};

  const chips = el("dl", { class: "chips" });
  const chip = (label, value, testid) => {
    const box = el("div", { class: "chip", "data-testid": testid });
    box.append(el("dt", {}, label), el("dd", {}, value));
    chips.append(box);
  };
  chip("Results", `${fmtCount(result.topk_returned)} / ${fmtCount(result.topk_requested)}`, "stat-results");
  chip("Duplicates removed", result.dedup_enabled === false ? "off" : fmtCount(result.duplicates_removed ?? 0), "stat-duplicates");
  chip("Gallery", plural(result.gallery_size, "image", "images"), "stat-gallery");
  chip("Total", fmtMs(timing.total), "stat-total");

  // One bar, one segment per stage, widths proportional to the time spent.
  const parts = TIMING_PARTS.filter(([key]) => typeof timing[key] === "number");
  const sum = parts.reduce((acc, [key]) => acc + Math.max(0, timing[key]), 0);
  const bar = el("div", { class: "timing-bar", role: "img", "aria-label": "Time per stage" });
  const legend = el("ul", { class: "timing-legend", "data-testid": "timing" });
  for (const [key, label] of parts) {
    const seg = el("span", { class: `seg seg-${key}`, title: `${label}: ${fmtMs(timing[key])}` });
    seg.style.flexGrow = String(sum > 0 ? Math.max(timing[key], 0) / sum : 1 / parts.length);
    bar.append(seg);
    const li = el("li", { "data-stage": key });
    li.append(el("span", { class: `dot seg-${key}`, "aria-hidden": "true" }), el("span", {}, label), el("b", {}, fmtMs(timing[key])));
    legend.append(li);
  }
  stats.append(chips, bar, legend);
  stats.hidden = false;
}

function renderCard(template, item, index) {
  const card = template.content.firstElementChild.cloneNode(true);
  const name = String(item.filename ?? "");
  card.style.setProperty("--i", String(Math.min(index, 40)));
  const btn = card.querySelector(".card-btn");
  btn.setAttribute("data-testid", "result");
  btn.setAttribute("data-index", String(index));
  btn.setAttribute("aria-label", `Rank ${item.rank}, score ${fmtScore(item.score)}: ${name}`);
  const img = card.querySelector("img");
  img.setAttribute("src", item.thumb_url || item.url);
  img.setAttribute("alt", name);
  img.addEventListener("load", () => img.classList.add("loaded"), { once: true });
  img.addEventListener("error", () => card.classList.add("broken"), { once: true });
  card.querySelector(".rank").textContent = `#${item.rank}`;
  card.querySelector(".score").textContent = fmtScore(item.score);
  const caption = card.querySelector(".card-name");
  caption.textContent = name;
  caption.setAttribute("title", name);
  caption.setAttribute("data-testid", "result-name");
  btn.addEventListener("click", () => openModal(index, btn));
  return card;
}

function renderResult(result) {
  renderStats(result);
  const root = $("results");
  root.replaceChildren();
  state.flat = [];
  const template = $("card-template");
  const tiers = Array.isArray(result.tiers) ? result.tiers : [];

  tiers.forEach((tier, tierIndex) => {
    const items = Array.isArray(tier.items) ? tier.items : [];
    const slug = tierSlug(tier.name);
    const section = el("section", { class: "tier", "data-tier": slug, "data-testid": "tier", "aria-label": `${tier.name} tier` });
    section.style.setProperty("--t", String(tierIndex));
    const head = el("header", { class: "tier-head" });
    head.append(
      el("h3", { class: "tier-name", "data-testid": "tier-name" }, tier.name),
      el("span", { class: "tier-count", "data-testid": "tier-count" }, String(tier.size ?? items.length)),
      el("span", { class: "tier-range", "data-testid": "tier-range" },
        items.length ? `score ${fmtScore(tier.score_max)} – ${fmtScore(tier.score_min)} · avg ${fmtScore(tier.avg_score)}` : "no matches"),
    );
    section.append(head);
    if (items.length) {
      const grid = el("ol", { class: "grid" });
      for (const item of items) {
        grid.append(renderCard(template, item, state.flat.length));
        state.flat.push({ item, tier: tier.name });
      }
      section.append(grid);
    }
    root.append(section);
  });

  if (!state.flat.length) {
    root.append(el("p", { class: "placeholder", "data-testid": "no-results" }, "No matches. Is the gallery empty?"));
  }
  revealResults();
}

/** Bring the top of new results into view: below the query card on a phone, or scrolled past. */
function revealResults() {
  const stats = $("stats");
  const top = stats.getBoundingClientRect().top;
  if (top >= 0 && top < window.innerHeight * 0.6) return;
  const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  stats.scrollIntoView({ behavior: smooth ? "smooth" : "auto", block: "start" });
}

// ---------- preview modal ----------

function showModalItem(index) {
  const entry = state.flat[index];
  if (!entry) return;
  state.modalIndex = index;
  const { item, tier } = entry;
  const name = String(item.filename ?? "");
  const img = $("preview-img");
  // Show the thumbnail at once, then swap in the full image when it has arrived.
  img.setAttribute("src", item.thumb_url || item.url);
  img.setAttribute("alt", name);
  if (item.thumb_url && item.url !== item.thumb_url) {
    const full = new Image();
    full.addEventListener("load", () => {
      if (state.modalIndex === index) img.setAttribute("src", item.url);
    }, { once: true });
    full.src = item.url;
  }
  $("preview-name").textContent = name;
  $("preview-rank").replaceChildren(`#${item.rank}`, el("span", { class: "of" }, ` / ${state.flat.length}`));
  $("preview-score").textContent = fmtScore(item.score);
  $("preview-tier").textContent = tier;
  $("preview-tier").setAttribute("data-tier", tierSlug(tier));
  $("preview-open").setAttribute("href", item.url);
  $("preview-prev").disabled = index === 0;
  $("preview-next").disabled = index === state.flat.length - 1;
  $("preview").setAttribute("data-index", String(index));
}

function openModal(index, trigger) {
  state.modalTrigger = trigger || null;
  showModalItem(index);
  const dialog = $("preview");
  if (!dialog.open) dialog.showModal();
  $("preview-close").focus();
}

function closeModal() {
  if ($("preview").open) $("preview").close();
}

function moveModal(step) {
  const next = state.modalIndex + step;
  if (next < 0 || next >= state.flat.length) return;
  showModalItem(next);
  state.modalTrigger = document.querySelector(`[data-testid="result"][data-index="${next}"]`);
}

/** Close a modal dialog when a click lands on its backdrop (outside its box). */
function closeOnBackdrop(dialog) {
  dialog.addEventListener("click", (e) => {
    const r = dialog.getBoundingClientRect();
    const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    if (!inside && e.target === dialog) dialog.close();
  });
}

function bindModal() {
  const dialog = $("preview");
  dialog.addEventListener("keydown", (e) => {
    if (e.key === "ArrowRight") { e.preventDefault(); moveModal(1); }
    else if (e.key === "ArrowLeft") { e.preventDefault(); moveModal(-1); }
  });
  dialog.addEventListener("close", () => {
    const trigger = state.modalTrigger;
    state.modalIndex = -1;
    if (trigger && trigger.isConnected) trigger.focus({ preventScroll: false });
  });
  $("preview-prev").addEventListener("click", () => moveModal(-1));
  $("preview-next").addEventListener("click", () => moveModal(1));
  $("preview-close").addEventListener("click", closeModal);
  $("preview-similar").addEventListener("click", () => {
    const entry = state.flat[state.modalIndex];
    if (entry) searchSimilar(entry.item);
  });
  closeOnBackdrop(dialog);
}

// ---------- history drawer ----------

function historySummary(entry) {
  const parts = [`K ${entry.topk_requested}`, plural(entry.topk_returned, "result", "results")];
  if (entry.dedup_enabled === false) parts.push("dedup off");
  else if (entry.duplicates_removed) parts.push(`${fmtCount(entry.duplicates_removed)} dupes removed`);
  return parts.join(" · ");
}

function renderHistoryItem(entry) {
  const li = el("li", { class: "history-entry", "data-testid": "history-entry", "data-id": entry.id });
  const open = el("button", { type: "button", class: "history-open", "data-testid": "history-replay" });
  const thumbSrc = entry.query_thumb_url;
  const thumb = el("span", { class: "history-thumb" });
  if (thumbSrc) thumb.append(el("img", { src: thumbSrc, alt: "", loading: "lazy" }));
  const text = el("span", { class: "history-text" });
  const when = parseTime(entry.ts);
  text.append(
    el("span", { class: "history-name", "data-testid": "history-name", title: entry.query_name }, entry.query_name || "query"),
    el("time", { class: "history-time", datetime: when ? when.toISOString() : null, title: when ? when.toLocaleString() : null }, fmtTime(entry.ts)),
    el("span", { class: "history-meta" }, historySummary(entry)),
  );
  open.append(thumb, text);
  open.setAttribute("aria-label", `Show search for ${entry.query_name || "query"}, ${fmtTime(entry.ts)}, ${historySummary(entry)}`);
  open.addEventListener("click", () => replayHistory(entry));

  const del = el("button", {
    type: "button", class: "btn ghost icon history-delete", "data-testid": "history-delete",
    "aria-label": `Delete search for ${entry.query_name || "query"}`,
  });
  del.append(svgIcon("M5 7h14M10 7V5h4v2M7 7l1 12h8l1-12"));
  del.addEventListener("click", () => deleteHistory(entry, li));
  li.append(open, del);
  return li;
}

function svgIcon(d) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}

function setHistoryStatus(text) {
  $("history-status").textContent = text;
}

async function loadHistory() {
  setHistoryStatus("Loading…");
  try {
    const body = await api(`api/history?limit=${HISTORY_LIMIT}`);
    const entries = body.items || [];
    const list = $("history-list");
    list.replaceChildren(...entries.map(renderHistoryItem));
    const summary = entries.length ? `${plural(entries.length, "saved search", "saved searches")}, newest first.` : "No searches yet.";
    setHistoryStatus([summary, ...(body.warnings || [])].join(" "));
    $("history-clear").disabled = entries.length === 0;
  } catch (err) {
    setHistoryStatus(explain(err).join(": "));
  }
}

/** Show a saved search: the listing holds full entries, so no request is needed. */
function replayHistory(entry) {
  $("history").close();
  hideError();
  renderResult(entry);
  state.query = null; // the original upload is not kept; pick an image to search again
  updateSearchButton();
  setQueryPreview(entry.query_thumb_url, entry.query_name);
  setStatus(`Showing the saved search for ${entry.query_name || "query"} from ${fmtTime(entry.ts)}.`);
}

async function deleteHistory(entry, li) {
  try {
    await api(`api/history/${encodeURIComponent(String(entry.id))}`, { method: "DELETE" });
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    const left = $("history-list").children.length;
    setHistoryStatus(left ? `Deleted. ${plural(left, "saved search", "saved searches")} left.` : "Deleted. No searches left.");
    $("history-clear").disabled = left === 0;
    const focusTarget = next ? next.querySelector(".history-open") : $("history-close");
    focusTarget.focus();
  } catch (err) {
    setHistoryStatus(explain(err).join(": "));
  }
}

async function clearHistory() {
  const confirm = $("confirm");
  confirm.returnValue = "";
  confirm.showModal();
  await new Promise((resolve) => confirm.addEventListener("close", resolve, { once: true }));
  if (confirm.returnValue !== "ok") return;
  try {
    await api("api/history/clear", { method: "POST" });
    $("history-list").replaceChildren();
    $("history-clear").disabled = true;
    setHistoryStatus("History cleared.");
    $("history-close").focus();
  } catch (err) {
    setHistoryStatus(explain(err).join(": "));
  }
}

function bindHistory() {
  const drawer = $("history");
  $("history-open").addEventListener("click", () => {
    drawer.showModal();
    $("history-close").focus();
    loadHistory();
  });
  $("history-close").addEventListener("click", () => drawer.close());
  $("history-clear").addEventListener("click", clearHistory);
  closeOnBackdrop(drawer);
  closeOnBackdrop($("confirm"));
}

// ---------- gallery info ----------

async function loadGalleryInfo() {
  try {
    const stats = await api("api/stats");
    const parts = [];
    if (typeof stats.gallery_size === "number") parts.push(plural(stats.gallery_size, "image", "images"));
    if (typeof stats.dim === "number") parts.push(`${stats.dim}-d`);
    if (typeof stats.searches_served === "number") parts.push(`${plural(stats.searches_served, "search", "searches")} served`);
    if (!stats.ready) {
      parts.push(stats.load_error ? "not ready" : "loading…");
      if (!stats.load_error) setTimeout(loadGalleryInfo, 2000); // until the model and index are in
    }
    $("gallery-info").textContent = parts.join(" · ");
    if (typeof stats.max_upload_bytes === "number" && stats.max_upload_bytes > 0) state.maxUploadBytes = stats.max_upload_bytes;
  } catch (err) {
    $("gallery-info").textContent = err.status === 0 ? "Server unreachable" : "";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  bindQueryInputs();
  bindControls();
  bindModal();
  bindHistory();
  updateSearchButton();
  loadGalleryInfo();
});
