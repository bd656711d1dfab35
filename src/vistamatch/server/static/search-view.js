// The search view: the query (pick, drop, paste, a link, a region of it), the controls (Top-K,
// dedup, tier policy: remembered, and re-running the current query when they change), the stats
// and the result grid with "load more".

import * as client from "./api.js";
import { ApiError, explain } from "./api.js";
import { $, el, fmtBytes, fmtCount, fmtMs, fmtTime, plural, storage } from "./dom.js";
import { ResultGrid } from "./grid.js";

const TIMING_PARTS = [
  ["preprocess", "Preprocess"],
  ["embed", "Embed"],
  ["search", "Search"],
  ["dedup_filter", "Dedup"],
];
const SETTINGS_KEY = "vistamatch.settings";
const RERUN_DELAY_MS = 300; // controls settle this long before the query runs again
const MIN_REGION_PX = 8; // a smaller drag is a click, not a region

export class SearchView {
  /**
   * config: a promise of GET /api/config (the query inputs work at once, the controls once it is in);
   * onSearched(): after each search (stats and history may have changed).
   */
  constructor(config, { onSearched }) {
    this.config = null;
    this.ready = config.then((c) => {
      this.config = c;
      this.bindControls();
    });
    this.onSearched = onSearched;
    this.query = null; // {kind: "upload", file} | {kind: "similar", path} | {kind: "url", url} | {kind: "history", id}
    this.queryInfo = null; // what the preview shows of the query: {src, name, size, modified}
    this.previewUrl = null; // object URL of the uploaded query, revoked on change
    this.region = null; // [x0, y0, x1, y1] as fractions of the query image, or null
    this.result = null; // the last answer (its history_id lets controls re-run it)
    this.busy = false;
    this.inflight = null; // AbortController of the search in flight
    this.rerunTimer = null;
    this.grid = new ResultGrid({ root: $("results"), onSimilar: (item) => this.searchSimilar(item) });
    this.bindQueryInputs();
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.runSearch();
    });
    this.bindRegion();
    $("load-more").addEventListener("click", () => this.loadMore());
    this.updateSearchButton();
  }

  // ---------- status and errors ----------

  setStatus(text) {
    $("status").textContent = text;
  }

  showError(err) {
    const [title, detail] = explain(err);
    $("error-title").textContent = title;
    $("error-detail").textContent = detail;
    $("error").hidden = false;
    this.setStatus("");
  }

  hideError() {
    $("error").hidden = true;
  }

  // ---------- controls ----------

  bindControls() {
    const { topk_min: min, topk_max: max, topk_default: fallback } = this.config;
    const topk = $("topk");
    topk.min = String(min);
    topk.max = String(max);
    topk.value = String(fallback);
    const select = $("tiers");
    select.replaceChildren(...this.config.tier_policies.map((p) => el("option", { value: p.name }, p.name)));
    select.value = this.config.tier_policy_default;
    $("tier-pills").replaceChildren(...this.config.tier_names.map((name) => el("li", { "data-tier": name.toLowerCase() }, name)));

    const saved = storage.read(SETTINGS_KEY);
    if (Number.isInteger(saved.topk) && saved.topk >= min && saved.topk <= max) topk.value = String(saved.topk);
    if (typeof saved.dedup === "boolean") $("dedup").checked = saved.dedup;
    if (this.config.tier_policies.some((p) => p.name === saved.tiers)) select.value = saved.tiers;
    this.showControls();

    const changed = () => {
      this.showControls();
      storage.write(SETTINGS_KEY, { topk: Number(topk.value), dedup: $("dedup").checked, tiers: select.value });
      this.scheduleRerun();
    };
    topk.addEventListener("input", changed);
    $("dedup").addEventListener("change", changed);
    select.addEventListener("change", changed);
  }

  /** Reflect the controls' values: the Top-K bubble and fill, the tier policy's one-line meaning. */
  showControls() {
    const topk = $("topk");
    $("topk-value").textContent = topk.value;
    topk.style.setProperty("--fill", `${((topk.value - topk.min) / (topk.max - topk.min)) * 100}%`);
    const policy = this.config.tier_policies.find((p) => p.name === $("tiers").value);
    $("tiers-help").textContent = policy ? `Tiers ${policy.description}.` : "";
  }

  /** Put the controls to a search's settings (a history replay), without re-running it. */
  setControls({ topk, dedup, tiers }) {
    if (!this.config) return void this.ready.then(() => this.setControls({ topk, dedup, tiers }));
    if (Number.isInteger(topk)) $("topk").value = String(topk);
    if (typeof dedup === "boolean") $("dedup").checked = dedup;
    if (this.config.tier_policies.some((p) => p.name === tiers)) $("tiers").value = tiers;
    this.showControls();
  }

  options(offset = 0) {
    return { topk: Number($("topk").value), dedup: $("dedup").checked, tiers: $("tiers").value, offset };
  }

  /** The query can run again by its stored embedding: no upload, no model run. */
  againId() {
    const r = this.result;
    return r && r.history_id && r.query_vector_stored ? r.history_id : null;
  }

  scheduleRerun() {
    clearTimeout(this.rerunTimer);
    if (!this.againId()) return;
    this.rerunTimer = setTimeout(() => this.search(() => ({ id: this.againId() }), { again: true }), RERUN_DELAY_MS);
  }

  updateSearchButton() {
    const btn = $("search-btn");
    btn.disabled = this.busy || !this.query;
    btn.classList.toggle("busy", this.busy);
    btn.setAttribute("aria-busy", String(this.busy));
    btn.querySelector(".search-btn-label").textContent = this.busy ? "Searching…" : "Search";
    $("url-btn").disabled = this.busy;
  }

  setBusy(busy) {
    this.busy = busy;
    this.updateSearchButton();
    $("results").setAttribute("aria-busy", String(busy));
    document.body.classList.toggle("is-busy", busy);
  }

  // ---------- query: pick, drop, paste, link ----------

  setQueryPreview(src, name, facts = {}) {
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
    this.queryInfo = { src, name, ...facts }; // facts: size, modified, full (the full image's URL)
    // The results on screen are another query's now: the controls no longer re-run them.
    this.result = null;
    clearTimeout(this.rerunTimer);
    $("load-more").hidden = true;
    this.grid.query = this.queryInfo;
    this.setRegion(null);
  }

  setQueryFile(file) {
    if (!file) return;
    this.hideError();
    if (this.previewUrl) URL.revokeObjectURL(this.previewUrl);
    this.previewUrl = URL.createObjectURL(file);
    this.query = { kind: "upload", file };
    this.setQueryPreview(this.previewUrl, file.name || "pasted image", { size: file.size, modified: file.lastModified });
    this.updateSearchButton();
    this.setStatus(`Ready to search with ${file.name || "the pasted image"}.`);
    $("search-btn").focus({ preventScroll: true });
    this.ready.then(() => {
      const limit = this.config.max_upload_bytes;
      if (this.query && this.query.file === file && limit && file.size > limit) {
        this.showError(new ApiError(413, `${file.name || "This file"} is ${fmtBytes(file.size)}; the limit is ${fmtBytes(limit)}.`));
      }
    }, () => {});
  }

  bindQueryInputs() {
    $("file-input").addEventListener("change", (e) => {
      this.setQueryFile(e.target.files[0]);
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
      const files = Array.from((e.dataTransfer && e.dataTransfer.files) || []);
      const file = files.find((f) => f.type.startsWith("image/")) || files[0];
      if (file) this.setQueryFile(file);
    });
    document.addEventListener("paste", (e) => {
      if (e.target === $("url-input")) return; // a link pasted into its box
      const items = Array.from((e.clipboardData && e.clipboardData.items) || []);
      const item = items.find((i) => i.kind === "file" && i.type.startsWith("image/"));
      if (!item) return;
      e.preventDefault();
      this.setQueryFile(item.getAsFile());
    });

    const searchLink = () => {
      const url = $("url-input").value.trim();
      if (!url) return;
      this.query = { kind: "url", url };
      this.setQueryPreview(null, url);
      $("dropzone").classList.add("no-preview");
      this.runSearch();
    };
    $("url-btn").addEventListener("click", searchLink);
    $("url-input").addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); searchLink(); }
    });
  }

  // ---------- query by region ----------

  /** Drag a box on the query image; the next search uses that crop only. */
  bindRegion() {
    const img = $("query-preview");
    const zone = $("dropzone");
    let start = null;
    let dragged = false;
    const point = (e) => {
      const r = imageBox(img);
      return [clamp((e.clientX - r.left) / r.width), clamp((e.clientY - r.top) / r.height)];
    };
    // On the whole drop zone, so a drag may start in the bars beside the picture (clamped to it).
    zone.addEventListener("pointerdown", (e) => {
      if (e.button !== 0 || img.hidden || !img.getAttribute("src")) return;
      e.preventDefault();
      zone.setPointerCapture(e.pointerId);
      start = point(e);
      dragged = false;
    });
    zone.addEventListener("pointermove", (e) => {
      if (!start) return;
      const [x, y] = point(e);
      const r = imageBox(img);
      dragged = dragged || Math.abs(x - start[0]) * r.width >= MIN_REGION_PX || Math.abs(y - start[1]) * r.height >= MIN_REGION_PX;
      if (dragged) this.setRegion([Math.min(start[0], x), Math.min(start[1], y), Math.max(start[0], x), Math.max(start[1], y)], false);
    });
    zone.addEventListener("pointerup", () => {
      if (start && dragged) this.setStatus("Region set: the next search uses that part of the image only.");
      start = null;
    });
    // The dropzone is the file input's label: a drag on the image must not open the file chooser.
    zone.addEventListener("click", (e) => {
      if (dragged) { e.preventDefault(); dragged = false; }
    });
    $("region-clear").addEventListener("click", () => this.setRegion(null));
    window.addEventListener("resize", () => this.drawRegion());
  }

  setRegion(region, announce = true) {
    this.region = region;
    this.drawRegion();
    $("region-clear").hidden = !region;
    if (!region && announce && this.query) this.setStatus("Region cleared: the whole image is searched.");
  }

  drawRegion() {
    const box = $("region-box");
    const img = $("query-preview");
    box.hidden = !this.region;
    if (!this.region) return;
    const r = imageBox(img);
    const z = $("dropzone").getBoundingClientRect();
    const [x0, y0, x1, y1] = this.region;
    Object.assign(box.style, {
      left: `${r.left - z.left + x0 * r.width}px`,
      top: `${r.top - z.top + y0 * r.height}px`,
      width: `${(x1 - x0) * r.width}px`,
      height: `${(y1 - y0) * r.height}px`,
    });
  }

  /** The region of the query image as a PNG blob (drawn from the full image, not its thumbnail). */
  async regionBlob() {
    const source = new Image();
    source.src = this.queryInfo.full || $("query-preview").getAttribute("src");
    await source.decode();
    const [x0, y0, x1, y1] = this.region;
    const sx = Math.round(x0 * source.naturalWidth);
    const sy = Math.round(y0 * source.naturalHeight);
    const w = Math.max(1, Math.round((x1 - x0) * source.naturalWidth));
    const h = Math.max(1, Math.round((y1 - y0) * source.naturalHeight));
    const canvas = el("canvas", { width: w, height: h });
    canvas.getContext("2d").drawImage(source, sx, sy, w, h, 0, 0, w, h);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
  }

  // ---------- searching ----------

  /** The search button: the current query with the current controls. */
  runSearch() {
    const q = this.query;
    if (!q) return;
    if (this.region) return this.search(async (signal, options) => {
      const blob = await this.regionBlob();
      const base = (q.kind === "upload" ? q.file.name : this.queryInfo.name) || "query";
      return client.searchUpload(blob, `${String(base).replace(/\.[^./]*$/, "")}-region.png`, options, signal);
    });
    if (q.kind === "upload") return this.search((signal, options) => client.searchUpload(q.file, q.file.name || "pasted.png", options, signal));
    if (q.kind === "similar") return this.search((signal, options) => client.searchSimilar(q.path, options, signal));
    if (q.kind === "url") return this.search((signal, options) => client.searchUrl(q.url, options, signal));
    return this.search(() => ({ id: q.id }), { again: true });
  }

  /**
   * Run one search: `request(signal, options)` returns the answer, or {id} to search again by a
   * history id. A newer search aborts the one in flight; `more` appends the next page.
   */
  async search(request, { again = false, more = false } = {}) {
    clearTimeout(this.rerunTimer);
    if (this.inflight) this.inflight.abort();
    const controller = new AbortController();
    this.inflight = controller;
    this.hideError();
    this.setBusy(true);
    this.setStatus(more ? "Loading more…" : "Searching…");
    try {
      await this.ready; // the controls' limits and tier policies
      const options = this.options(more ? this.result.offset + this.grid.size : 0);
      if (more) options.topk = this.result.page_topk;
      let result;
      if (again) {
        const { id } = request();
        result = await client.searchAgain(id, options, controller.signal);
      } else {
        result = await request(controller.signal, options);
      }
      if (controller.signal.aborted) return;
      result.page_topk = options.topk;
      if (more) {
        this.grid.append(result);
        this.result = { ...this.result, topk_returned: this.grid.size, last_page: result };
      } else {
        this.showResult(result);
      }
      this.updateLoadMore(result);
      const ms = result.timing_ms && result.timing_ms.total;
      const warning = result.history_warning ? ` Not saved to history: ${result.history_warning}` : "";
      const found = more ? `Loaded ${plural(result.topk_returned, "more match", "more matches")}` : `Found ${plural(result.topk_returned, "match", "matches")}`;
      this.setStatus(`${found} in ${fmtMs(ms)}.${warning}`);
      this.onSearched();
    } catch (err) {
      if (err.name === "AbortError" || controller.signal.aborted) return;
      this.showError(err);
    } finally {
      if (this.inflight === controller) {
        this.inflight = null;
        this.setBusy(false);
      }
    }
  }

  showResult(result) {
    const q = this.query;
    if (q && q.kind === "url" && result.query_thumb_url && !this.queryInfo.src) {
      this.setQueryPreview(result.query_thumb_url, q.url); // the server fetched it: now there is a picture
    }
    this.result = result;
    this.renderStats(result);
    this.grid.show(result);
    revealResults();
  }

  loadMore() {
    if (this.againId()) this.search(() => ({ id: this.againId() }), { again: true, more: true });
  }

  /** "Load more" while the last page was full and the gallery has more. */
  updateLoadMore(page) {
    const full = page.topk_returned > 0 && page.topk_returned >= page.page_topk;
    const more = page.offset + page.topk_returned < page.gallery_size;
    const depth = (this.config || {})[$("dedup").checked ? "offset_max_dedup" : "offset_max"] ?? 0;
    $("load-more").hidden = !(this.againId() && full && more && page.offset + page.topk_returned <= depth);
  }

  searchSimilar(item) {
    this.grid.closeModal();
    this.query = { kind: "similar", path: item.filename };
    this.setQueryPreview(item.thumb_url || item.url, item.filename, { full: item.url });
    const info = this.queryInfo;
    client.fileFacts(item.url).then((facts) => Object.assign(info, facts));
    this.runSearch();
  }

  /** A saved search: its results from memory, the controls back to its settings, ready to re-run. */
  showEntry(entry) {
    this.hideError();
    clearTimeout(this.rerunTimer);
    this.setControls({ topk: entry.topk_requested, dedup: entry.dedup_enabled, tiers: entry.tier_policy });
    this.setQueryPreview(entry.query_thumb_url, entry.query_name);
    const result = { ...entry, history_id: entry.id, page_topk: entry.topk_requested, offset: entry.offset || 0 };
    this.showResult(result);
    this.updateLoadMore(result);
    // With its embedding stored, Search (or a control) runs it again; else pick the image again.
    this.query = entry.query_vector_stored ? { kind: "history", id: entry.id } : null;
    this.updateSearchButton();
    const how = this.query ? " Change the settings to search it again." : "";
    this.setStatus(`Showing the saved search for ${entry.query_name || "query"} from ${fmtTime(entry.ts)}.${how}`);
  }

  // ---------- stats ----------

  renderStats(result) {
    const stats = $("stats");
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
    stats.replaceChildren(chips, bar, legend);
    stats.hidden = false;
    $("filters").hidden = false;
  }
}

function clamp(x) {
  return Math.min(1, Math.max(0, x));
}

/** Where the image's pixels are drawn inside its element (object-fit: contain leaves bars). */
function imageBox(img) {
  const r = img.getBoundingClientRect();
  if (!img.naturalWidth || !img.naturalHeight) return r;
  const scale = Math.min(r.width / img.naturalWidth, r.height / img.naturalHeight);
  const width = img.naturalWidth * scale;
  const height = img.naturalHeight * scale;
  return { left: r.left + (r.width - width) / 2, top: r.top + (r.height - height) / 2, width, height };
}

/** Bring the top of new results into view: below the query card on a phone, or scrolled past. */
function revealResults() {
  const stats = $("stats");
  const top = stats.getBoundingClientRect().top;
  if (top >= 0 && top < window.innerHeight * 0.6) return;
  const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  stats.scrollIntoView({ behavior: smooth ? "smooth" : "auto", block: "start" });
}
