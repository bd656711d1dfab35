// VistaMatch search page: ES modules, no build step. main.js reads the server's configuration
// (limits, tier names) and wires the search view, the history drawer, the gallery line and the
// index strip.

import * as client from "./api.js";
import { $, plural } from "./dom.js";
import { HistoryView } from "./history-view.js";
import { IndexStateView } from "./index-state.js";
import { SearchView } from "./search-view.js";

async function loadGalleryInfo() {
  try {
    const stats = await client.getStats();
    const parts = [];
    if (typeof stats.gallery_size === "number") parts.push(plural(stats.gallery_size, "image", "images"));
    if (typeof stats.dim === "number") parts.push(`${stats.dim}-d`);
    if (stats.store === "ann" && stats.store_description) parts.push(stats.store_description); // how exact the fast answer is
    if (typeof stats.searches_served === "number") parts.push(`${plural(stats.searches_served, "search", "searches")} served`);
    if (!stats.ready) {
      parts.push(stats.load_error ? "not ready" : "loading…");
      if (!stats.load_error) setTimeout(loadGalleryInfo, 2000); // until the model and index are in
    }
    $("gallery-info").textContent = parts.join(" · ");
  } catch (err) {
    $("gallery-info").textContent = err.status === 0 ? "Server unreachable" : "";
  }
}

function start() {
  // The query inputs work at once; the controls wait for the server's limits and tier names.
  const config = client.getConfig();
  config.catch(() => {
    $("gallery-info").textContent = "Server unreachable";
    $("status").textContent = "Could not read the server's configuration; reload the page when the server runs.";
  });
  let history = null;
  const search = new SearchView(config, {
    onSearched: () => {
      loadGalleryInfo(); // searches served went up
      if (history && history.open) history.load();
    },
  });
  history = new HistoryView({ onReplay: (entry) => search.showEntry(entry) });
  loadGalleryInfo();
  new IndexStateView().poll();
}

start();
