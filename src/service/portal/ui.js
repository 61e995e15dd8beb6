// ui.js: building blocks of the portal's pages. Elements are made with h(),
// which sets text with textContent, never HTML, so nothing the service
// returns can become markup. Figures carry their units, times are shown in
// the browser's time zone, and long lists come in pages.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

let idSeq = 0;
export function uid(prefix) {
  idSeq += 1;
  return `${prefix}-${idSeq}`;
}

// A labelled form field: the label names the control for screen readers and
// HINT (described-by) says the rule; ERROR is where a message about it goes.
export function field(label, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const hintId = id + "-hint";
  const errId = id + "-err";
  const described = [hint ? hintId : null, errId].filter(Boolean).join(" ");
  control.setAttribute("aria-describedby", described);
  const err = h("p", { class: "field-error", id: errId, "aria-live": "polite" });
  const wrap = h("div", { class: "field" },
    h("label", { for: id }, label), control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null, err);
  wrap.setError = (msg) => {
    err.textContent = msg || "";
    if (msg) control.setAttribute("aria-invalid", "true");
    else control.removeAttribute("aria-invalid");
  };
  return wrap;
}

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

// Bytes with a binary unit: "0 B", "512 B", "1.5 MiB".
export function bytes(n) {
  let v = Number(n) || 0;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${UNITS[u]}`;
}

// A count with its noun: "1 file", "3 files".
export function count(n, one, many) {
  const v = Number(n) || 0;
  return `${v.toLocaleString()} ${v === 1 ? one : (many || one + "s")}`;
}

export const timeZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const fmt = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric",
  hour: "2-digit", minute: "2-digit", timeZoneName: "short",
});

// A <time> element for an ISO time of the service, shown in the user's zone.
export function time(iso) {
  if (!iso) return h("span", { class: "none" }, "never");
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return h("span", {}, iso);
  return h("time", { datetime: iso, title: iso }, fmt.format(d));
}

export function timeText(iso) {
  return iso ? fmt.format(new Date(iso)) : "never";
}

// A notice box: kind is "error", "ok" or "warn".
export function notice(kind, ...children) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "note" }, ...children);
}

// Say something in the page's live region (screen readers hear it).
export function announce(msg) {
  const s = document.getElementById("status");
  s.textContent = "";
  s.textContent = msg;
}

// A table of ROWS in pages of PAGE_SIZE, with a caption, column headers and
// Previous/Next buttons. COLUMNS: [{label, cell: row => Node|string, num}].
export function pagedTable({ caption, columns, rows, pageSize = 20, empty = "Nothing yet." }) {
  const wrap = h("section", { class: "table-wrap" });
  let page = 0;
  const pages = Math.max(1, Math.ceil(rows.length / pageSize));
  const render = () => {
    wrap.replaceChildren();
    if (rows.length === 0) {
      wrap.append(h("p", { class: "empty" }, empty));
      return;
    }
    const body = rows.slice(page * pageSize, (page + 1) * pageSize).map((r) =>
      h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(r)))));
    wrap.append(h("table", {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h("tbody", {}, body)));
    if (pages > 1) {
      const prev = h("button", { type: "button", disabled: page === 0, onclick: () => { page -= 1; render(); wrap.querySelector(".pager button:last-child").focus(); } }, "Previous page");
      const next = h("button", { type: "button", disabled: page >= pages - 1, onclick: () => { page += 1; render(); wrap.querySelector(".pager button").focus(); } }, "Next page");
      wrap.append(h("nav", { class: "pager", "aria-label": `${caption}: pages` }, prev,
        h("span", {}, `Page ${page + 1} of ${pages} (${rows.length} in all)`), next));
    }
  };
  render();
  return wrap;
}

// Trigger the download of BLOB as FILENAME.
export function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, class: "hidden-link" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}
