// The history drawer: saved searches, newest first; a click shows one again (from memory, with
// the controls set back to its settings), delete one, or clear all after a confirmation.

import * as client from "./api.js";
import { explain } from "./api.js";
import { $, closeOnBackdrop, el, fmtCount, fmtTime, parseTime, plural, svgIcon } from "./dom.js";

const HISTORY_LIMIT = 200;

function historySummary(entry) {
  const parts = [`K ${entry.topk_requested}`, plural(entry.topk_returned, "result", "results")];
  if (entry.dedup_enabled === false) parts.push("dedup off");
  else if (entry.duplicates_removed) parts.push(`${fmtCount(entry.duplicates_removed)} dupes removed`);
  if (entry.tier_policy && entry.tier_policy !== "quantile") parts.push(`${entry.tier_policy} tiers`);
  return parts.join(" · ");
}

export class HistoryView {
  /** onReplay(entry): show a saved search. */
  constructor({ onReplay }) {
    this.onReplay = onReplay;
    const drawer = $("history");
    $("history-open").addEventListener("click", () => {
      drawer.showModal();
      $("history-close").focus();
      this.load();
    });
    $("history-close").addEventListener("click", () => drawer.close());
    $("history-clear").addEventListener("click", () => this.clear());
    closeOnBackdrop(drawer);
    closeOnBackdrop($("confirm"));
  }

  get open() {
    return $("history").open;
  }

  setStatus(text) {
    $("history-status").textContent = text;
  }

  async load() {
    this.setStatus("Loading…");
    try {
      const body = await client.listHistory(HISTORY_LIMIT);
      const entries = body.items || [];
      $("history-list").replaceChildren(...entries.map((e) => this.renderItem(e)));
      const summary = entries.length ? `${plural(entries.length, "saved search", "saved searches")}, newest first.` : "No searches yet.";
      this.setStatus([summary, ...(body.warnings || [])].join(" "));
      $("history-clear").disabled = entries.length === 0;
    } catch (err) {
      this.setStatus(explain(err).join(": "));
    }
  }

  renderItem(entry) {
    const li = el("li", { class: "history-entry", "data-testid": "history-entry", "data-id": entry.id });
    const open = el("button", { type: "button", class: "history-open", "data-testid": "history-replay" });
    const thumb = el("span", { class: "history-thumb" });
    if (entry.query_thumb_url) thumb.append(el("img", { src: entry.query_thumb_url, alt: "", loading: "lazy" }));
    const text = el("span", { class: "history-text" });
    const when = parseTime(entry.ts);
    text.append(
      el("span", { class: "history-name", "data-testid": "history-name", title: entry.query_name }, entry.query_name || "query"),
      el("time", { class: "history-time", datetime: when ? when.toISOString() : null, title: when ? when.toLocaleString() : null }, fmtTime(entry.ts)),
      el("span", { class: "history-meta" }, historySummary(entry)),
    );
    open.append(thumb, text);
    open.setAttribute("aria-label", `Show search for ${entry.query_name || "query"}, ${fmtTime(entry.ts)}, ${historySummary(entry)}`);
    open.addEventListener("click", () => {
      $("history").close();
      this.onReplay(entry);
    });

    const del = el("button", {
      type: "button", class: "btn ghost icon history-delete", "data-testid": "history-delete",
      "aria-label": `Delete search for ${entry.query_name || "query"}`,
    });
    del.append(svgIcon("M5 7h14M10 7V5h4v2M7 7l1 12h8l1-12"));
    del.addEventListener("click", () => this.remove(entry, li));
    li.append(open, del);
    return li;
  }

  async remove(entry, li) {
    try {
      await client.deleteHistory(entry.id);
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      const left = $("history-list").children.length;
      this.setStatus(left ? `Deleted. ${plural(left, "saved search", "saved searches")} left.` : "Deleted. No searches left.");
      $("history-clear").disabled = left === 0;
      (next ? next.querySelector(".history-open") : $("history-close")).focus();
    } catch (err) {
      this.setStatus(explain(err).join(": "));
    }
  }

  async clear() {
    const confirm = $("confirm");
    confirm.returnValue = "";
    confirm.showModal();
    await new Promise((resolve) => confirm.addEventListener("close", resolve, { once: true }));
    if (confirm.returnValue !== "ok") return;
    try {
      await client.clearHistory();
      $("history-list").replaceChildren();
      $("history-clear").disabled = true;
      this.setStatus("History cleared.");
      $("history-close").focus();
    } catch (err) {
      this.setStatus(explain(err).join(": "));
    }
  }
}
