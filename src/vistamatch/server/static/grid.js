// The result grid and its preview, reusable by any page that shows ranked gallery images:
// tiers of cards (folder beside the file name), filters by folder and minimum score, pages appended
// by "load more", and a preview dialog with the query and the match side by side.

import { fileFacts } from "./api.js";
import { $, closeOnBackdrop, el, fmtBytes, fmtScore, fmtTime, splitPath } from "./dom.js";

const TIER_SLUGS = new Set(["perfect", "excellent", "good", "just-so-so"]); // CSS colours per tier

export function tierSlug(name) {
  const slug = String(name).toLowerCase();
  return TIER_SLUGS.has(slug) ? slug : "other";
}

function fmtDims(img) {
  return img && img.naturalWidth ? `${img.naturalWidth} × ${img.naturalHeight}` : "–";
}

/** Show `img`'s natural size in `node` once it is known. */
function showDims(img, node) {
  const set = () => { node.textContent = fmtDims(img); };
  set();
  if (!img.complete) img.addEventListener("load", set, { once: true });
}

export class ResultGrid {
  /**
   * root: the element the tiers go into; template: the card <template>; onSimilar(item): "search
   * similar" from the preview; the preview dialog and filter controls are found by their ids.
   */
  constructor({ root, template, onSimilar }) {
    this.root = root;
    this.template = template;
    this.onSimilar = onSimilar;
    this.entries = []; // [{item, tier, card}] in rank order
    this.sections = new Map(); // tier name -> {section, grid, count}
    this.filter = { folder: "", minScore: 0 };
    this.query = null; // {src, name, size, modified, full} of the query, for the preview
    this.modalIndex = -1;
    this.modalTrigger = null;
    this.bindModal();
    this.bindFilters();
  }

  get size() {
    return this.entries.length;
  }

  /** Replace everything with `result`'s tiers. */
  show(result) {
    this.root.replaceChildren();
    this.entries = [];
    this.sections = new Map();
    this.append(result);
    if (!this.entries.length) {
      this.root.append(el("p", { class: "placeholder", "data-testid": "no-results" }, "No matches. Is the gallery empty?"));
    }
  }

  /** Add a later page: its items join the tier of the same name, or a new tier after the others. */
  append(result) {
    const tiers = Array.isArray(result.tiers) ? result.tiers : [];
    for (const tier of tiers) {
      const items = Array.isArray(tier.items) ? tier.items : [];
      const target = this.sections.get(tier.name) || this.addSection(tier);
      for (const item of items) {
        const card = this.renderCard(item, this.entries.length);
        target.grid.append(card);
        this.entries.push({ item, tier: tier.name, card });
      }
    }
    this.updateFolders();
    this.applyFilter();
  }

  addSection(tier) {
    const slug = tierSlug(tier.name);
    const section = el("section", { class: "tier", "data-tier": slug, "data-testid": "tier", "aria-label": `${tier.name} tier` });
    section.style.setProperty("--t", String(this.sections.size));
    const count = el("span", { class: "tier-count", "data-testid": "tier-count" });
    const range = el("span", { class: "tier-range", "data-testid": "tier-range" });
    const head = el("header", { class: "tier-head" });
    head.append(el("h3", { class: "tier-name", "data-testid": "tier-name" }, tier.name), count, range);
    const grid = el("ol", { class: "grid" });
    section.append(head, grid);
    this.root.append(section);
    const entry = { section, grid, count, range, name: tier.name };
    this.sections.set(tier.name, entry);
    return entry;
  }

  renderCard(item, index) {
    const card = this.template.content.firstElementChild.cloneNode(true);
    const name = String(item.filename ?? "");
    const [folder, file] = splitPath(name);
    card.style.setProperty("--i", String(Math.min(index % 50, 40)));
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
    caption.setAttribute("title", name);
    caption.setAttribute("data-testid", "result-name");
    // The folder gives way first; the file name keeps its end visible (ellipsis at its start).
    const fileSpan = el("span", { class: "card-file", "data-testid": "result-file" });
    fileSpan.append(el("bdi", {}, file));
    caption.replaceChildren(el("span", { class: "card-dir", "data-testid": "result-dir" }, folder), fileSpan);
    btn.addEventListener("click", () => this.openModal(index, btn));
    return card;
  }

  // ---------- filters ----------

  bindFilters() {
    const folder = $("filter-folder");
    const score = $("filter-score");
    if (!folder || !score) return;
    folder.addEventListener("change", () => { this.filter.folder = folder.value; this.applyFilter(); });
    score.addEventListener("input", () => {
      this.filter.minScore = Number(score.value);
      $("filter-score-value").textContent = Number(score.value).toFixed(2);
      this.applyFilter();
    });
  }

  /** The folder menu: every folder of the results so far, with its count. */
  updateFolders() {
    const select = $("filter-folder");
    if (!select) return;
    const counts = new Map();
    for (const { item } of this.entries) {
      const [folder] = splitPath(item.filename);
      counts.set(folder, (counts.get(folder) || 0) + 1);
    }
    if (this.filter.folder && !counts.has(this.filter.folder)) this.filter.folder = "";
    const options = [el("option", { value: "" }, "All folders")];
    for (const [folder, n] of [...counts].sort((a, b) => a[0].localeCompare(b[0]))) {
      options.push(el("option", { value: folder }, `${folder || "(top folder)"} · ${n}`));
    }
    select.replaceChildren(...options);
    select.value = this.filter.folder;
  }

  matches(item) {
    const [folder] = splitPath(item.filename);
    return (!this.filter.folder || folder === this.filter.folder) && !(item.score < this.filter.minScore);
  }

  applyFilter() {
    const shown = new Map();
    for (const { item, tier, card } of this.entries) {
      const visible = this.matches(item);
      card.hidden = !visible;
      if (visible) shown.set(tier, [...(shown.get(tier) || []), item]);
    }
    for (const s of this.sections.values()) {
      const items = shown.get(s.name) || [];
      s.section.hidden = items.length === 0;
      s.count.textContent = String(items.length);
      s.range.textContent = items.length
        ? `score ${fmtScore(items[0].score)} – ${fmtScore(items[items.length - 1].score)} · avg ${fmtScore(items.reduce((a, i) => a + i.score, 0) / items.length)}`
        : "no matches";
    }
    const visible = this.visible().length;
    const note = $("filter-note");
    if (note) note.textContent = visible === this.entries.length ? "" : `showing ${visible} of ${this.entries.length}`;
  }

  /** Indexes of the entries the filters let through, in rank order. */
  visible() {
    return this.entries.flatMap((e, i) => (e.card.hidden ? [] : [i]));
  }

  // ---------- preview ----------

  bindModal() {
    const dialog = $("preview");
    dialog.addEventListener("keydown", (e) => {
      if (e.key === "ArrowRight") { e.preventDefault(); this.moveModal(1); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); this.moveModal(-1); }
    });
    dialog.addEventListener("close", () => {
      const trigger = this.modalTrigger;
      this.modalIndex = -1;
      if (trigger && trigger.isConnected) trigger.focus({ preventScroll: false });
    });
    $("preview-prev").addEventListener("click", () => this.moveModal(-1));
    $("preview-next").addEventListener("click", () => this.moveModal(1));
    $("preview-close").addEventListener("click", () => this.closeModal());
    $("preview-similar").addEventListener("click", () => {
      const entry = this.entries[this.modalIndex];
      if (entry) this.onSimilar(entry.item);
    });
    closeOnBackdrop(dialog);
  }

  showModalItem(index) {
    const entry = this.entries[index];
    if (!entry) return;
    this.modalIndex = index;
    const { item, tier } = entry;
    const name = String(item.filename ?? "");
    const img = $("preview-img");
    // Show the thumbnail at once, then swap in the full image when it has arrived.
    img.setAttribute("src", item.thumb_url || item.url);
    img.setAttribute("alt", name);
    $("preview-dims").textContent = "–";
    if (item.thumb_url && item.url !== item.thumb_url) {
      const full = new Image();
      full.addEventListener("load", () => {
        if (this.modalIndex !== index) return;
        img.setAttribute("src", item.url);
        $("preview-dims").textContent = fmtDims(full);
      }, { once: true });
      full.src = item.url;
    } else {
      showDims(img, $("preview-dims"));
    }
    $("preview-size").textContent = "…";
    $("preview-date").textContent = "…";
    fileFacts(item.url).then(({ size, modified }) => {
      if (this.modalIndex !== index) return;
      $("preview-size").textContent = fmtBytes(size);
      $("preview-date").textContent = fmtTime(modified) || "–";
    });
    this.showQuery();
    const visible = this.visible();
    const at = visible.indexOf(index);
    $("preview-name").textContent = name;
    $("preview-rank").replaceChildren(`#${item.rank}`, el("span", { class: "of" }, ` / ${this.entries.length}`));
    $("preview-score").textContent = fmtScore(item.score);
    $("preview-tier").textContent = tier;
    $("preview-tier").setAttribute("data-tier", tierSlug(tier));
    $("preview-open").setAttribute("href", item.url);
    $("preview-prev").disabled = at <= 0;
    $("preview-next").disabled = at === visible.length - 1;
    $("preview").setAttribute("data-index", String(index));
  }

  /** The query beside the match: its picture, dimensions, file size and date when known. */
  showQuery() {
    const q = this.query;
    const figure = $("preview-query");
    figure.hidden = !q || !q.src;
    if (figure.hidden) return;
    const img = $("preview-query-img");
    const src = q.full || q.src; // a gallery query: its full image, for its real dimensions
    if (img.getAttribute("src") !== src) img.setAttribute("src", src);
    img.setAttribute("alt", `Query ${q.name || ""}`.trim());
    $("preview-query-name").textContent = q.name || "query";
    showDims(img, $("preview-query-dims"));
    const facts = [fmtBytes(q.size), fmtTime(q.modified)].filter((t) => t && t !== "–");
    $("preview-query-facts").textContent = facts.join(" · ");
  }

  openModal(index, trigger) {
    this.modalTrigger = trigger || null;
    this.showModalItem(index);
    const dialog = $("preview");
    if (!dialog.open) dialog.showModal();
    $("preview-close").focus();
  }

  closeModal() {
    if ($("preview").open) $("preview").close();
  }

  moveModal(step) {
    const visible = this.visible();
    const next = visible[visible.indexOf(this.modalIndex) + step];
    if (next === undefined) return;
    this.showModalItem(next);
    this.modalTrigger = this.root.querySelector(`[data-testid="result"][data-index="${next}"]`);
  }
}
