// The index state at the foot of the query panel: a progress bar while the gallery is indexed, how much of it
// searches cover, "up to date" when idle, and the skipped files on request. It polls GET /api/index
// (every second while indexing, every 10 s otherwise) and stops while the page is hidden.

import * as client from "./api.js";
import { $, el, fmtCount, fmtTime, plural } from "./dom.js";

const FAST_MS = 1000;
const SLOW_MS = 10000;

function fmtEta(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "";
  if (seconds < 60) return `${Math.max(1, Math.round(seconds))} s left`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min left`;
  return `${(seconds / 3600).toFixed(1)} h left`;
}

export class IndexStateView {
  constructor() {
    this.strip = $("index-state");
    this.bar = $("index-progress");
    this.line = $("index-line");
    this.skipped = $("index-skipped");
    this.skippedList = $("index-skipped-list");
    this.timer = null;
    this.skipped.addEventListener("toggle", () => this.skipped.open && this.loadSkipped());
    document.addEventListener("visibilitychange", () => (document.hidden ? this.stop() : this.poll()));
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
  }

  async poll() {
    this.stop();
    let delay = SLOW_MS;
    try {
      const state = await client.getIndexState();
      this.show(state);
      if (state.state === "indexing" || state.state === "loading") delay = FAST_MS;
    } catch (err) {
      this.line.textContent = ""; // an older server or no index yet: nothing to say
      this.bar.hidden = this.skipped.hidden = true;
    }
    if (!document.hidden) this.timer = setTimeout(() => this.poll(), delay);
  }

  show(s) {
    const indexing = s.state === "indexing";
    this.strip.dataset.state = s.state;
    this.bar.hidden = !indexing;
    if (indexing) {
      this.bar.max = Math.max(1, s.total);
      this.bar.value = Math.min(s.indexed, s.total);
    }
    const parts = [];
    if (indexing) {
      parts.push(`Indexing: ${fmtCount(s.indexed)} of ${plural(s.total, "file", "files")}`);
      if (typeof s.images_per_second === "number") parts.push(`${s.images_per_second.toFixed(1)} images/s`);
      const eta = fmtEta(s.eta_seconds);
      if (eta) parts.push(eta);
      if (s.searchable < s.total) parts.push(`searching the ${fmtCount(s.searchable)} indexed so far`);
    } else if (s.state === "loading") {
      parts.push("Loading the index…");
    } else {
      parts.push(s.watching ? "Up to date, watching the gallery" : "Up to date");
      if (s.last_update) parts.push(`last change ${fmtTime(s.last_update)}`);
    }
    if (s.error) parts.push(`last update failed: ${s.error}`);
    this.line.textContent = parts.join(" · ");
    this.skipped.hidden = !s.skipped_count;
    this.skipped.querySelector("summary").textContent = `${plural(s.skipped_count, "file", "files")} skipped`;
  }

  async loadSkipped() {
    try {
      const s = await client.getIndexState({ skipped: 1 });
      const items = (s.skipped || []).map((f) => {
        const li = el("li");
        li.append(el("code", {}, f.path), el("span", { class: "reason" }, f.reason));
        return li;
      });
      this.skippedList.replaceChildren(...items);
    } catch (err) {
      this.skippedList.replaceChildren(el("li", {}, "Could not read the skipped files."));
    }
  }
}
