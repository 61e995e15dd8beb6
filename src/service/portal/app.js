// app.js: the portal's shell: which page a location (#/...) shows, who is
// signed in, signing out. Pages live in pages.js, vault.js, machine.js,
// users.js and approvals.js.

import { api, setCsrf, setSignedOutHandler } from "./api.js";
import { h, notice, timeZone } from "./ui.js";
import * as pages from "./pages.js";
import * as vault from "./vault.js";
import * as machine from "./machine.js";
import * as users from "./users.js";
import * as approvals from "./approvals.js";
import { can } from "./roles.js";

const ROUTES = [
  [/^#\/signin$/, pages.signIn, true],
  [/^#\/invitation$/, pages.invitation, true],
  [/^#\/users$/, users.users],
  [/^#\/account$/, users.account],
  [/^#\/vaults\/new$/, pages.vaultCreate],
  [/^#\/vaults$/, pages.vaultList],
  [/^#\/vault\/([^/]+)$/, vault.quickStart, false, ["vault"]],
  [/^#\/vault\/([^/]+)\/properties$/, vault.properties, false, ["vault"]],
  [/^#\/vault\/([^/]+)\/machines$/, vault.machines, false, ["vault"]],
  [/^#\/vault\/([^/]+)\/jobs$/, vault.jobs, false, ["vault"]],
  [/^#\/vault\/([^/]+)\/usage$/, vault.usage, false, ["vault"]],
  [/^#\/vault\/([^/]+)\/machine\/([^/]+)$/, machine.points, false, ["vault", "machine"]],
  [/^#\/vault\/([^/]+)\/machine\/([^/]+)\/policy$/, machine.policy, false, ["vault", "machine"]],
  [/^#\/approvals$/, approvals.approvals],
  [/^#\/alerts$/, pages.alerts],
  [/^#\/security$/, pages.security],
  [/^#\/tokens$/, pages.tokens],
  [/^#\/audit$/, pages.audit],
];

const app = {
  user: null,
  who: null,
  // WHO: GET /session's answer. The menu shows what the role may use.
  signedIn(who) {
    this.user = who.user;
    this.who = who;
    document.getElementById("who-name").textContent = `Signed in as ${who.user} (${who.role})`;
    for (const li of document.querySelectorAll("#nav [data-can]")) li.hidden = !can(this, li.dataset.can);
    document.getElementById("nav").hidden = false;
    document.getElementById("who").hidden = false;
  },
  signedOut() {
    this.user = null;
    this.who = null;
    setCsrf("");
    document.getElementById("nav").hidden = true;
    document.getElementById("who").hidden = true;
    if (location.hash !== "#/signin" && location.hash !== "#/invitation") location.hash = "#/signin";
  },
};

async function show() {
  const main = document.getElementById("main");
  const hash = location.hash && location.hash !== "#" ? location.hash : "#/vaults";
  const open = hash === "#/signin" || hash === "#/invitation";
  if (!app.user && !open) {
    try {
      const who = await api("GET", "/session");
      setCsrf(who.csrf);
      app.signedIn(who);
    } catch {
      app.signedOut();
      return;
    }
  }
  // A second factor the subscription requires comes before anything else.
  if (app.who && app.who.totp_required && !app.who.totp && !open && hash !== "#/account") {
    location.hash = "#/account";
    return;
  }
  let found = null;
  for (const [re, fn, open, names] of ROUTES) {
    const m = re.exec(hash);
    if (m) {
      const params = {};
      (names || []).forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      found = { fn, params, open };
      break;
    }
  }
  main.replaceChildren();
  for (const a of document.querySelectorAll("#nav a")) {
    a.toggleAttribute("aria-current", hash.startsWith(a.getAttribute("href")) ||
      (a.getAttribute("href") === "#/vaults" && hash.startsWith("#/vault")));
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  if (!found) {
    main.append(h("h1", { tabindex: "-1" }, "No such page"), h("p", {}, h("a", { href: "#/vaults" }, "Go to the vaults")));
  } else {
    try {
      await found.fn(main, found.params, app);
    } catch (e) {
      main.append(notice("error", pages.errorOf(e)));
    }
  }
  document.title = `${(main.querySelector("h1") || {}).textContent || "arca"} · arca portal`;
  // Move focus to the new page's heading, so a keyboard or screen reader user
  // starts there (the sign-in page focuses its first field itself).
  const h1 = main.querySelector("h1");
  if (h1 && !main.contains(document.activeElement)) h1.focus();
  main.dataset.ready = hash;
}

async function signOut() {
  try {
    await api("DELETE", "/session");
  } finally {
    app.signedOut();
  }
}

setSignedOutHandler(() => app.signedOut());
document.getElementById("signout").addEventListener("click", signOut);
document.getElementById("tz").textContent = `your time zone (${timeZone})`;
window.addEventListener("hashchange", show);
show();
