// api.js: the portal's calls to the JSON API (/api/v1). The session rides in
// an HttpOnly cookie the page never sees; every change also sends the CSRF
// token the service gave at sign-in (or from GET /session), as the API
// requires of cookie sessions.

let csrf = "";
let onSignedOut = () => {};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function setSignedOutHandler(fn) {
  onSignedOut = fn;
}

export function setCsrf(token) {
  csrf = token || "";
}

// One request. BODY (an object) is sent as JSON; PIN goes in X-Arca-PIN.
// Returns the parsed JSON answer, or {blob, filename} with RAW. Throws an
// ApiError with the service's message on any error answer.
export async function api(method, path, body, { pin, raw, retried } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET") headers["X-CSRF-Token"] = csrf;
  if (pin) headers["X-Arca-PIN"] = pin;
  const res = await fetch("/api/v1" + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
    cache: "no-store",
  });
  if (res.ok && raw) {
    const cd = res.headers.get("Content-Disposition") || "";
    const m = /filename="([^"]+)"/.exec(cd);
    return { blob: await res.blob(), filename: m ? m[1] : "download" };
  }
  let data = {};
  try {
    data = await res.json();
  } catch {
    data = {};
  }
  if (res.ok) return data;
  const err = data.error || {};
  // A restarted service hands out new CSRF tokens: fetch ours and retry once.
  if (res.status === 403 && err.code === "csrf" && !retried) {
    const who = await api("GET", "/session");
    setCsrf(who.csrf);
    return api(method, path, body, { pin, raw, retried: true });
  }
  // A 401 means a wrong PIN as well as an ended session: ask which.
  if (res.status === 401 && path !== "/session") {
    const who = await fetch("/api/v1/session", { credentials: "same-origin", cache: "no-store" });
    if (who.status === 401) onSignedOut();
  }
  throw new ApiError(res.status, err.code || "error", err.message || `the service answered ${res.status}`);
}
