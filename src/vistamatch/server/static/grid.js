// The result grid and its preview, reusable by any page that shows gallery images: the result card
// (thumbnail, a meta line, the file name kept visible with its folder beside it), tiers of cards,
// filters by folder and minimum score, pages appended by "load more", and the preview dialog with two
// images side by side (the query and the match; on the duplicates page the keeper and a duplicate).

import { fileFacts } from "./api.js";
import { $, closeOnBackdrop, el, fmtBytes, fmtScore, fmtTime, splitPath, svgIcon } from "./dom.js";

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

/** A gallery path as a caption: the folder gives way first, the file name keeps its end visible. */
export function fileCaption(path) {
  const name = String(path ?? "");
  const [folder, file] = splitPath(name);
  const caption = el("span", { class: "card-name", title: name, "data-testid": "result-name" });
  const fileSpan = el("span", { class: "card-file", "data-testid": "result-file" });
  fileSpan.append(el("bdi", {}, file));
  caption.append(el("span", { class: "card-dir", "data-testid": "result-dir" }, folder), fileSpan);
  return caption;
}

/**
 * A result card (<li class="card">): a button with the thumbnail, a meta line (`rank` on the left,
 * `score` on the right, both text) and the caption. item: {filename, url, thumb_url}; index: its
 * place (data-index, and the rise animation's delay); label: the button's accessible name (the file
 * name by default); onOpen(button): what a click does (the preview).
 */
export function resultCard(item, { index = 0, rank = "", score = "", label = "", onOpen = null } = {}) {
  const name = String(item.filename ?? "");
  const card = el("li", { class: "card" });
  card.style.setProperty("--i", String(Math.min(index % 50, 40)));
  const img = el("img", { loading: "lazy", decoding: "async", alt: name, src: item.thumb_url || item.url });
  img.addEventListener("load", () => img.classList.add("loaded"), { once: true });
  img.addEventListener("error", () => card.classList.add("broken"), { once: true });
  const btn = el("button", { type: "button", class: "card-btn", "data-testid": "result", "data-index": index, "aria-label": label || name });
  const thumb = el("span", { class: "thumb" });
  thumb.append(img);
  const meta = el("span", { class: "card-meta" });
  meta.append(el("span", { class: "rank" }, rank), el("span", { class: "score" }, score));
  btn.append(thumb, meta, fileCaption(name));
  if (onOpen) btn.addEventListener("click", () => onOpen(btn));
  card.append(btn);
  return card;
}

// ---------- the preview dialog, one per page, built on first use ----------

let shown = 0; // counts showings: facts that arrive for an older one are dropped
let previewTrigger = null; // focused again when the preview closes

function fact(label, id, className) {
  const row = el("div", { class: className });
  row.append(el("dt", {}, label), el("dd", { id, "data-testid": id }));
  return row;
}

function navButton(id, label, d) {
  const btn = el("button", { type: "button", class: `nav ${id.slice(8)}`, id, "data-testid": id, "aria-label": label });
  btn.append(svgIcon(d));
  return btn;
}

function buildPreview() {
  const dialog = el("dialog", { class: "modal", id: "preview", "data-testid": "preview", "aria-labelledby": "preview-name" });
  const left = el("figure", { class: "side", id: "preview-query", "data-testid": "preview-query", hidden: true });
  const leftCaption = el("figcaption");
  leftCaption.append(
    el("span", { class: "side-label", id: "preview-query-label" }), " ",
    el("span", { class: "side-name", id: "preview-query-name" }),
    el("span", { id: "preview-query-dims", "data-testid": "preview-query-dims" }),
    el("span", { id: "preview-query-facts", "data-testid": "preview-query-facts" }),
  );
  left.append(el("img", { id: "preview-query-img", "data-testid": "preview-query-img", alt: "" }), leftCaption);
  const right = el("figure", { class: "side" });
  const rightCaption = el("figcaption");
  rightCaption.append(el("span", { class: "side-label", id: "preview-match-label" }));
  right.append(el("img", { id: "preview-img", "data-testid": "preview-img", alt: "" }), rightCaption);
  const figure = el("div", { class: "modal-figure" });
  figure.append(left, right, navButton("preview-prev", "Previous result", "M15 5l-7 7 7 7"), navButton("preview-next", "Next result", "M9 5l7 7-7 7"));
  const facts = el("dl", { class: "facts" });
  facts.append(
    fact("Rank", "preview-rank", "ranked"), fact("Score", "preview-score", "ranked"), fact("Tier", "preview-tier", "ranked"),
    fact("Size", "preview-dims", "file-fact"), fact("File", "preview-size", "file-fact"), fact("Date", "preview-date", "file-fact"),
  );
  const actions = el("div", { class: "modal-actions" });
  actions.append(
    el("button", { type: "button", class: "btn primary ranked", id: "preview-similar", "data-testid": "preview-similar" }, "Search similar"),
    el("a", { class: "btn ghost", id: "preview-open", target: "_blank", rel: "noopener" }, "Open original"),
    el("button", { type: "button", class: "btn ghost", id: "preview-close", "data-testid": "preview-close" }, "Close"),
  );
  const info = el("div", { class: "modal-info" });
  info.append(el("h3", { class: "preview-name", id: "preview-name", "data-testid": "preview-name" }), facts, actions, el("p", { class: "hint", id: "preview-hint" }));
  const body = el("div", { class: "modal-body" });
  body.append(figure, info);
  dialog.append(body);
  dialog.addEventListener("close", () => {
    const trigger = previewTrigger;
    previewTrigger = null;
    if (trigger && trigger.isConnected) trigger.focus({ preventScroll: false });
  });
  dialog.querySelector("#preview-close").addEventListener("click", () => dialog.close());
  closeOnBackdrop(dialog);
  document.body.append(dialog);
  return dialog;
}

/** The page's preview dialog (built the first time). */
export function previewDialog() {
  return $("preview") || buildPreview();
}

/** The left image: the query (or the keeper), its dimensions, file size and date when known. */
function showLeft(q) {
  const figure = $("preview-query");
  figure.hidden = !q || !q.src;
  if (figure.hidden) return;
  const img = $("preview-query-img");
  const src = q.full || q.src; // a gallery image: its full image, for its real dimensions
  if (img.getAttribute("src") !== src) img.setAttribute("src", src);
  const label = q.label || "Query";
  img.setAttribute("alt", `${label} ${q.name || ""}`.trim());
  $("preview-query-label").textContent = label;
  $("preview-query-name").textContent = q.name || label.toLowerCase();
  showDims(img, $("preview-query-dims"));
  const facts = [fmtBytes(q.size), fmtTime(q.modified)].filter((t) => t && t !== "–");
  $("preview-query-facts").textContent = facts.join(" · ");
}

/**
 * Show `right` (a gallery item: {filename, url, thumb_url, label?, size?, modified?}) and, beside it,
 * `left` ({src, full?, name, label?, size?, modified?}, or null for none). Dimensions come from the
 * images; size and date from `right` when it has them, else from a HEAD of its file. ranked: the rank,
 * score and tier rows, the arrows and "search similar" are shown (the search page's grid fills them).
 */
function showPreview(left, right, ranked) {
  const showing = ++shown;
  const dialog = previewDialog();
  for (const node of dialog.querySelectorAll(".ranked, .nav")) node.hidden = !ranked;
  $("preview-hint").textContent = ranked ? "← → to browse, Esc to close" : "Esc to close";
  const name = String(right.filename ?? "");
  const img = $("preview-img");
  // Show the thumbnail at once, then swap in the full image when it has arrived.
  img.setAttribute("src", right.thumb_url || right.url);
  img.setAttribute("alt", name);
  $("preview-dims").textContent = "–";
  if (right.thumb_url && right.url !== right.thumb_url) {
    const full = new Image();
    full.addEventListener("load", () => {
      if (shown !== showing) return;
      img.setAttribute("src", right.url);
      $("preview-dims").textContent = fmtDims(full);
    }, { once: true });
    full.src = right.url;
  } else {
    showDims(img, $("preview-dims"));
  }
  const showFacts = ({ size, modified }) => {
    if (shown !== showing) return;
    $("preview-size").textContent = fmtBytes(size);
    $("preview-date").textContent = fmtTime(modified) || "–";
  };
  if (Number.isFinite(right.size)) {
    showFacts(right);
  } else {
    $("preview-size").textContent = "…";
    $("preview-date").textContent = "…";
    fileFacts(right.url).then(showFacts);
  }
  showLeft(left);
  $("preview-match-label").textContent = right.label || "Match";
  $("preview-name").textContent = name;
  $("preview-open").setAttribute("href", right.url);
}

function raisePreview(trigger) {
  previewTrigger = trigger || null;
  const dialog = previewDialog();
  if (!dialog.open) dialog.showModal();
  $("preview-close").focus();
}

/** Open the preview on `right` with `left` beside it (see showPreview); trigger gets the focus back. */
export function openPreview(left, right, { trigger = null } = {}) {
  showPreview(left, right, false);
  raisePreview(trigger);
}

export class ResultGrid {
  /**
   * root: the element the tiers go into; onSimilar(item): "search similar" from the preview; the
   * filter controls are found by their ids.
   */
  constructor({ root, onSimilar }) {
    this.root = root;
    this.onSimilar = onSimilar;
    this.entries = []; // [{item, tier, card}] in rank order
    this.sections = new Map(); // tier name -> {section, grid, count}
    this.filter = { folder: "", minScore: 0 };
    this.query = null; // {src, name, size, modified, full} of the query, for the preview
    this.modalIndex = -1;
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
    const name = String(item.filename ?? "");
    return resultCard(item, {
      index,
      rank: `#${item.rank}`,
      score: fmtScore(item.score),
      label: `Rank ${item.rank}, score ${fmtScore(item.score)}: ${name}`,
      onOpen: (btn) => this.openModal(index, btn),
    });
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
    const dialog = previewDialog();
    dialog.addEventListener("keydown", (e) => {
      if (this.modalIndex < 0) return;
      if (e.key === "ArrowRight") { e.preventDefault(); this.moveModal(1); }
      else if (e.key === "ArrowLeft") { e.preventDefault(); this.moveModal(-1); }
    });
    dialog.addEventListener("close", () => { this.modalIndex = -1; });
    $("preview-prev").addEventListener("click", () => this.moveModal(-1));
    $("preview-next").addEventListener("click", () => this.moveModal(1));
    $("preview-similar").addEventListener("click", () => {
      const entry = this.entries[this.modalIndex];
      if (entry) this.onSimilar(entry.item);
    });
  }

  showModalItem(index) {
    const entry = this.entries[index];
    if (!entry) return;
    this.modalIndex = index;
    const { item, tier } = entry;
    showPreview(this.query, item, true);
    const visible = this.visible();
    const at = visible.indexOf(index);
    $("preview-rank").replaceChildren(`#${item.rank}`, el("span", { class: "of" }, ` / ${this.entries.length}`));
    $("preview-score").textContent = fmtScore(item.score);
    $("preview-tier").textContent = tier;
    $("preview-tier").setAttribute("data-tier", tierSlug(tier));
    $("preview-prev").disabled = at <= 0;
    $("preview-next").disabled = at === visible.length - 1;
    $("preview").setAttribute("data-index", String(index));
  }

  openModal(index, trigger) {
    this.showModalItem(index);
    raisePreview(trigger);
  }

  closeModal() {
    if ($("preview").open) $("preview").close();
  }

  moveModal(step) {
    const visible = this.visible();
    const next = visible[visible.indexOf(this.modalIndex) + step];
    if (next === undefined) return;
    this.showModalItem(next);
    previewTrigger = this.root.querySelector(`[data-testid="result"][data-index="${next}"]`);
  }
}
