// The duplicates review page: groups from GET /api/duplicates, a keeper per group (the keeper rule's,
// or "keep this"), and the others of the selected groups moved to the trash (POST
// /api/duplicates/trash) or put back (POST /api/duplicates/undo). Every string from the server
// (file names above all) reaches the DOM through textContent or setAttribute, never innerHTML.
// The members are the search page's result cards (grid.js), and a click on one opens the shared
// preview with the group's keeper beside it.

import { $, el } from "./dom.js";
import { openPreview, resultCard } from "./grid.js";

const groupsEl = $("groups");
const thresholdEl = $("threshold");
const sortEl = $("sort");
let groups = []; // [{keeper, members: [member...], chosen: path, selected: bool}]

async function api(path, body) {
  const options = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, options);
  let data = null;
  try {
    data = await response.json();
  } catch {
    // not JSON: the status says enough
  }
  if (!response.ok) {
    const error = new Error((data && data.error) || `the server answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  return data;
}

function megabytes(bytes) {
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

function showStatus(text) {
  $("status").textContent = text;
}

function showError(lines) {
  const box = $("error");
  box.replaceChildren(...lines.map((line) => el("div", {}, line)));
  box.hidden = lines.length === 0;
}

function facts(m) {
  return `${megabytes(m.size)} · ${new Date(m.mtime_ns / 1e6).toISOString().slice(0, 10)}`;
}

/** A member as the grid's item: name, links, and the file's size and date from the API. */
function asItem(m, label) {
  return { filename: m.path, url: m.url, thumb_url: m.thumb_url, size: m.size, modified: m.mtime_ns / 1e6, label };
}

/** The preview of `m` with the group's keeper (the current choice) beside it; the keeper alone. */
function preview(group, m, trigger) {
  const keeper = group.members.find((k) => k.path === group.chosen);
  const left = m === keeper ? null : { ...asItem(keeper, "Keeper"), name: keeper.path, src: keeper.thumb_url, full: keeper.url };
  openPreview(left, asItem(m, m === keeper ? "Keeper" : "Duplicate"), { trigger });
}

function toMove(group) {
  return group.members.filter((m) => m.path !== group.chosen);
}

function selectedBytes() {
  return groups.filter((g) => g.selected).reduce((sum, g) => sum + toMove(g).reduce((s, m) => s + m.size, 0), 0);
}

function refreshTotals() {
  const any = groups.some((g) => g.selected);
  $("move-selected").disabled = !any;
  $("selected-bytes").textContent = megabytes(selectedBytes());
}

// The histogram of nearest-neighbour scores as SVG bars (attributes only: the page's CSP allows no
// inline styles). The first bin (below 0.80) is left out; each later bin is 0.01 wide.
function renderHistogram({ edges, counts }, threshold) {
  const svg = $("histogram");
  const NS = "http://www.w3.org/2000/svg";
  const bins = counts.slice(1);
  const top = Math.max(1, ...bins);
  const width = 210 / bins.length;
  const shapes = bins.map((count, i) => {
    const rect = document.createElementNS(NS, "rect");
    const height = (count / top) * 56;
    rect.setAttribute("x", String(i * width));
    rect.setAttribute("y", String(58 - height));
    rect.setAttribute("width", String(width - 1));
    rect.setAttribute("height", String(height));
    rect.setAttribute("class", edges[i + 1] >= threshold - 1e-9 ? "hist-bar above" : "hist-bar");
    const title = document.createElementNS(NS, "title");
    title.textContent = `${edges[i + 1].toFixed(2)}–${edges[i + 2].toFixed(2)}: ${count} images`;
    rect.append(title);
    return rect;
  });
  const line = document.createElementNS(NS, "line");
  const x = String(Math.min(210, Math.max(0, ((threshold - 0.8) / 0.2) * 210)));
  for (const [k, v] of [["x1", x], ["x2", x], ["y1", "0"], ["y2", "60"], ["class", "hist-line"]]) line.setAttribute(k, v);
  svg.replaceChildren(...shapes, line);
}

function renderGroup(group, number) {
  const node = $("group-template").content.firstElementChild.cloneNode(true);
  const select = node.querySelector(".group-select");
  node.querySelector(".group-title").textContent = `Group ${number}: ${group.members.length} images`;
  const bytes = node.querySelector(".group-bytes");
  const members = node.querySelector(".dup-members");
  const paint = () => {
    node.classList.toggle("selected", group.selected);
    select.checked = group.selected;
    bytes.textContent = `${megabytes(toMove(group).reduce((s, m) => s + m.size, 0))} in duplicates`;
    for (const card of members.children) {
      const keeper = card.dataset.path === group.chosen;
      card.classList.toggle("keeper", keeper);
      card.classList.toggle("doomed", group.selected && !keeper);
      card.querySelector(".keep-choice").checked = keeper;
      card.querySelector(".dup-badge").textContent = keeper ? "keep" : group.selected ? "to trash" : card.dataset.role;
    }
    refreshTotals();
  };
  group.members.forEach((m, index) => {
    const card = resultCard(asItem(m), {
      index,
      rank: m.width ? `${m.width} × ${m.height}` : "",
      score: m.similarity.toFixed(4),
      label: `${m.path}, ${m.role}, score ${m.similarity.toFixed(4)}`,
      onOpen: (btn) => preview(group, m, btn),
    });
    card.classList.add("dup-member");
    card.setAttribute("data-testid", "member");
    card.dataset.path = m.path;
    card.dataset.role = m.role;
    const radio = el("input", { type: "radio", class: "keep-choice", "data-testid": "keep-choice", name: `keep-${number}` });
    const keep = el("label", { class: "dup-keep" });
    keep.append(radio, " keep this");
    card.append(el("span", { class: "dup-facts" }, facts(m)), keep, el("span", { class: "dup-badge", "data-testid": "member-role" }));
    radio.addEventListener("change", () => {
      group.chosen = m.path;
      paint();
    });
    members.append(card);
  });
  select.addEventListener("change", () => {
    group.selected = select.checked;
    paint();
  });
  group.paint = paint;
  paint();
  return node;
}

async function load() {
  const params = new URLSearchParams({ threshold: thresholdEl.value, sort: sortEl.value, limit: "1000" });
  showStatus("Looking for duplicates…");
  try {
    const data = await api(`/api/duplicates?${params}`);
    groups = data.groups.map((g) => ({
      members: [{ ...g.keeper, role: "keeper rule" }, ...g.duplicates.map((d) => ({ ...d, role: d.exact ? "exact copy" : "near" }))],
      chosen: g.keeper.path,
      selected: false,
    }));
    $("total-groups").textContent = String(data.group_count);
    $("total-duplicates").textContent = String(data.duplicate_count);
    $("total-bytes").textContent = megabytes(data.reclaimable_bytes);
    renderHistogram(data.nearest_histogram, data.threshold);
    const shown = groups.map((g, i) => renderGroup(g, i + 1));
    if (shown.length === 0) {
      shown.push(el("p", { class: "dup-empty" }, "No duplicates at this threshold."));
    }
    groupsEl.replaceChildren(...shown);
    refreshTotals();
    const more = data.group_count > groups.length ? ` (showing the first ${groups.length})` : "";
    showStatus(`${data.group_count} groups among ${data.gallery_size} images at ${data.threshold.toFixed(3)}${more}.`);
  } catch (error) {
    showStatus("");
    showError([error.message]);
  }
}

function confirmAction(text) {
  const dialog = $("confirm");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function moveSelected() {
  const chosen = groups.filter((g) => g.selected);
  const count = chosen.reduce((n, g) => n + toMove(g).length, 0);
  if (!(await confirmAction(`Move ${count} files (${megabytes(selectedBytes())}) to the trash? Undo puts them back.`))) return;
  showError([]);
  try {
    const body = { groups: chosen.map((g) => ({ keeper: g.chosen, move: toMove(g).map((m) => m.path) })) };
    const result = await api("/api/duplicates/trash", body);
    showError(result.refused.map((r) => `not moved: ${r.path}: ${r.reason}`));
    await load();
    showStatus(result.batch ? `Moved ${result.done.length} files to the trash (batch ${result.batch}).` : "Nothing was moved.");
  } catch (error) {
    showError([error.message]);
  }
}

async function undoLast() {
  if (!(await confirmAction("Put the files of the last trash batch back where they were?"))) return;
  showError([]);
  try {
    const result = await api("/api/duplicates/undo", {});
    showError(result.refused.map((r) => `not restored: ${r.path}: ${r.reason}`));
    await load();
    showStatus(`Restored ${result.done.length} files (batch ${result.batch}).`);
  } catch (error) {
    if (error.status === 404) showStatus("Nothing to undo.");
    else showError([error.message]);
  }
}

function selectAll(selected) {
  for (const g of groups) {
    g.selected = selected;
    g.paint();
  }
}

function showThreshold() {
  $("threshold-value").textContent = Number(thresholdEl.value).toFixed(3);
  // the track's filled part (style.css reads --fill); CSSOM, which the CSP allows
  thresholdEl.style.setProperty("--fill", `${((thresholdEl.value - thresholdEl.min) / (thresholdEl.max - thresholdEl.min)) * 100}%`);
}

thresholdEl.addEventListener("input", showThreshold);
thresholdEl.addEventListener("change", load);
sortEl.addEventListener("change", load);
$("select-all").addEventListener("click", () => selectAll(true));
$("select-none").addEventListener("click", () => selectAll(false));
$("move-selected").addEventListener("click", moveSelected);
$("undo-last").addEventListener("click", undoLast);

const initial = new URLSearchParams(location.search).get("threshold");
if (initial && Number(initial) >= 0.9 && Number(initial) <= 1) thresholdEl.value = initial;
showThreshold();
load();
