// The API client: one fetch wrapper that turns HTTP status into a readable error, and one function
// per endpoint the page uses (docs/api.md is the contract).

export class ApiError extends Error {
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

export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: "application/json" }, ...options });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The server did not answer.");
  }
  let body = null;
  try {
    body = await response.json();
  } catch (err) {
    if (err.name === "AbortError") throw err;
    body = null;
  }
  if (!response.ok || (body && body.ok === false)) {
    throw new ApiError(response.ok ? 500 : response.status, messageOf(body) || response.statusText);
  }
  return body;
}

/** [title, detail] for an error, for the user. */
export function explain(err) {
  const detail = err.message || "";
  switch (err.status) {
    case 0:
      return ["Server unreachable", "Could not reach the VistaMatch server. Check that it is running, then try again."];
    case 413:
      return ["Image too big", detail || "The file is larger than the upload limit."];
    case 400:
    case 415:
      return ["Not an image we can read", detail || "Choose a JPEG, PNG, WebP or another common image file."];
    case 403:
      return ["Not allowed", detail];
    case 409:
      return ["Cannot run this search again", detail];
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

function postJson(path, body, signal) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

// `options` is {topk, dedup, tiers, offset}; `signal` aborts a search a newer one replaces.
export function searchUpload(file, name, options, signal) {
  const form = new FormData();
  form.append("image", file, name);
  return api(`api/search?${new URLSearchParams(options)}`, { method: "POST", body: form, signal });
}

export const searchSimilar = (path, options, signal) => postJson("api/search/similar", { path, ...options }, signal);
export const searchUrl = (url, options, signal) => postJson("api/search/url", { url, ...options }, signal);
export const searchAgain = (historyId, options, signal) => postJson("api/search/again", { history_id: historyId, ...options }, signal);

export const getConfig = () => api("api/config");
export const getStats = () => api("api/stats");
export const getIndexState = (query = {}) => api(`api/index?${new URLSearchParams(query)}`);
export const listHistory = (limit) => api(`api/history?limit=${limit}`);
export const deleteHistory = (id) => api(`api/history/${encodeURIComponent(String(id))}`, { method: "DELETE" });
export const clearHistory = () => api("api/history/clear", { method: "POST" });

/** Size and date of a gallery file, from a HEAD request (null fields when the server does not say). */
export async function fileFacts(url) {
  try {
    const response = await fetch(url, { method: "HEAD" });
    if (!response.ok) return { size: null, modified: null };
    const length = response.headers.get("Content-Length");
    return { size: length === null ? null : Number(length), modified: response.headers.get("Last-Modified") };
  } catch (err) {
    return { size: null, modified: null };
  }
}
