// Small DOM and formatting helpers shared by the page's modules.
// Rule: data from the server (file names, history fields) reaches the DOM only through
// textContent and setAttribute, never through innerHTML.

export const $ = (id) => document.getElementById(id);

/** Create an element; attrs go through setAttribute, text through textContent. */
export function el(tag, attrs = {}, text = null) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined && value !== false) node.setAttribute(name, String(value));
  }
  if (text !== null && text !== undefined) node.textContent = String(text);
  return node;
}

export function svgIcon(d) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", d);
  svg.append(path);
  return svg;
}

export function fmtScore(x) {
  return typeof x === "number" && Number.isFinite(x) ? x.toFixed(3) : "–";
}

export function fmtMs(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) return "–";
  return x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;
}

export function fmtCount(n) {
  return typeof n === "number" ? n.toLocaleString() : "–";
}

/** "1 search", "3 searches". */
export function plural(n, one, many) {
  return `${fmtCount(n)} ${n === 1 ? one : many}`;
}

export function fmtBytes(n) {
  if (typeof n !== "number" || !Number.isFinite(n)) return "–";
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(n % (1 << 20) ? 1 : 0)} MB` : `${Math.ceil(n / 1024)} KB`;
}

/** A timestamp (ISO 8601, an HTTP date, or milliseconds) as a Date, or null. */
export function parseTime(ts) {
  const d = ts || ts === 0 ? new Date(ts) : null;
  return d && !Number.isNaN(d.getTime()) ? d : null;
}

export function fmtTime(ts) {
  const d = parseTime(ts);
  if (!d) return "";
  const sameDay = d.toDateString() === new Date().toDateString();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

/** A gallery path split into its folder ("a/b/", or "") and file name. */
export function splitPath(path) {
  const name = String(path ?? "");
  const cut = name.lastIndexOf("/") + 1;
  return [name.slice(0, cut), name.slice(cut)];
}

/** Close a modal dialog when a click lands on its backdrop (outside its box). */
export function closeOnBackdrop(dialog) {
  dialog.addEventListener("click", (e) => {
    const r = dialog.getBoundingClientRect();
    const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
    if (!inside && e.target === dialog) dialog.close();
  });
}

/** Values remembered across visits; nothing if storage is empty, blocked or garbled. */
export const storage = {
  read(key) {
    try {
      return JSON.parse(localStorage.getItem(key)) || {};
    } catch (err) {
      return {};
    }
  },
  write(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch (err) {
      // storage blocked (private mode): settings just do not persist
    }
  },
};
