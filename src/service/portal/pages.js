// pages.js: the portal's pages that are not about one vault: sign in, the
// vault list, creating a vault, alerts, the security PIN, API tokens and the
// audit log. Each page function fills MAIN and returns.

import { api, setCsrf, ApiError } from "./api.js";
import { h, field, notice, pagedTable, time, announce, count } from "./ui.js";
import { can } from "./roles.js";

export function title(main, text, ...more) {
  const h1 = h("h1", { tabindex: "-1" }, text);
  main.append(h1, ...more);
  return h1;
}

function errorOf(e) {
  return e instanceof ApiError ? e.message : `the portal could not reach the service (${e.message})`;
}

// A form's message area: one place where success or failure is said.
function formStatus() {
  const el = h("div", { class: "form-status", "aria-live": "polite" });
  el.show = (kind, msg) => el.replaceChildren(msg ? notice(kind, msg) : "");
  return el;
}

export async function signIn(main, _params, app) {
  const user = h("input", { name: "user", autocomplete: "username", required: true, value: "owner" });
  const pass = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  // The one-time code's field, shown when the service asks for it.
  const code = h("input", { id: "signin-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6" });
  const codeField = field("One-time code", code, "The 6 digits your authenticator app shows for arca.");
  codeField.hidden = true;
  const st = formStatus();
  const form = h("form", { class: "card narrow", "aria-labelledby": "signin-h" },
    field("User name", user), field("Password", pass), codeField,
    h("button", { type: "submit", class: "primary" }, "Sign in"), st);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    st.show("", "");
    try {
      const body = { user: user.value, password: pass.value, cookie: true };
      if (!codeField.hidden) body.code = code.value;
      const r = await api("POST", "/session", body);
      setCsrf(r.csrf);
      pass.value = "";
      code.value = "";
      app.signedIn(await api("GET", "/session"));
      location.hash = app.who.totp_required && !app.who.totp ? "#/account" : "#/vaults";
    } catch (e) {
      if (e instanceof ApiError && e.code === "totp_required") {
        codeField.hidden = false;
        st.show("", "");
        code.focus();
        return;
      }
      st.show("error", errorOf(e));
      (codeField.hidden ? pass : code).focus();
    }
  });
  main.append(h("h1", { id: "signin-h", tabindex: "-1" }, "Sign in to arca"), form,
    h("p", {}, h("a", { href: "#/invitation" }, "Set your password with a one-time code")));
  user.focus();
}

// An invitation's or a password reset's one-time code sets the password.
export async function invitation(main) {
  const user = h("input", { id: "inv-user", name: "user", autocomplete: "username", required: true });
  const code = h("input", { id: "inv-code", name: "code", autocomplete: "off", required: true, spellcheck: "false" });
  const pass = h("input", { id: "inv-password", name: "password", type: "password", autocomplete: "new-password", required: true, minlength: "12" });
  const st = formStatus();
  const form = h("form", { class: "card narrow", "aria-labelledby": "inv-h" },
    field("User name", user), field("One-time code", code, "From the person who invited you or reset your password; used once."),
    field("New password", pass, "At least 12 characters."),
    h("button", { type: "submit", class: "primary" }, "Set password"), st);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await api("POST", "/invitation", { user: user.value, code: code.value.trim(), password: pass.value });
      pass.value = "";
      st.show("ok", h("span", {}, "Your password is set: ", h("a", { href: "#/signin" }, "sign in"), "."));
    } catch (e) {
      st.show("error", errorOf(e));
    }
  });
  main.append(h("h1", { id: "inv-h", tabindex: "-1" }, "Set your password"), form);
  user.focus();
}

export async function vaultList(main, _params, app) {
  title(main, "Vaults");
  const r = await api("GET", "/vaults");
  main.append(
    h("p", {}, `${count(r.vaults.length, "vault")} of at most ${r.vaults_max} in this subscription. `,
      can(app, "manage") ? h("a", { href: "#/vaults/new", class: "button primary" }, "Create a vault") : ""),
    pagedTable({
      caption: "Vaults",
      rows: r.vaults,
      empty: "No vault yet: create one to protect your first machine.",
      columns: [
        { label: "Name", cell: (v) => h("a", { href: `#/vault/${encodeURIComponent(v.name)}` }, v.name) },
        { label: "Region", cell: (v) => v.region },
        { label: "Storage redundancy", cell: (v) => `${v.redundancy}${v.redundancy_locked ? " (locked)" : ""}` },
        { label: "Machines", num: true, cell: (v) => `${v.machines} of ${v.machines_max}` },
        { label: "Created", cell: (v) => time(v.created) },
      ],
    }));
}

// The vault naming rule (SPEC section 1), with the service's own words.
export function vaultNameProblem(n) {
  if (n.length < 2 || n.length > 50) return `vault name must be 2 to 50 characters long (it has ${n.length})`;
  if (!/^[A-Za-z][A-Za-z0-9-]*$/.test(n)) return "vault name may hold only letters, digits and '-', and must start with a letter";
  return "";
}

export async function vaultCreate(main) {
  title(main, "Create a vault");
  const regions = (await api("GET", "/regions")).regions;
  const name = h("input", { name: "name", required: true, maxlength: "60", autocomplete: "off", spellcheck: "false" });
  const nameField = field("Name", name, "2 to 50 letters, digits and '-', starting with a letter; unique in this subscription.");
  name.addEventListener("input", () => nameField.setError(name.value ? vaultNameProblem(name.value) : ""));
  const region = h("select", { name: "region" },
    regions.map((r) => h("option", { value: r.name }, r.pair ? `${r.name} (pair: ${r.pair})` : r.name)));
  const red = h("fieldset", { class: "radios" },
    h("legend", {}, "Storage redundancy"),
    h("label", {}, h("input", { type: "radio", name: "redundancy", value: "GRS", checked: true }),
      " Geo-redundant (GRS): also copied to the region's pair"),
    h("label", {}, h("input", { type: "radio", name: "redundancy", value: "LRS" }),
      " Locally redundant (LRS): one copy in the region"),
    h("p", { class: "hint" }, "Choose now: the storage redundancy is locked once the first machine registers to the vault."));
  const st = formStatus();
  const form = h("form", { class: "card" }, nameField, field("Region", region,
    "Where the vault keeps its data."), red,
  h("button", { type: "submit", class: "primary" }, "Create vault"), st);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const problem = vaultNameProblem(name.value);
    nameField.setError(problem);
    if (problem) {
      name.focus();
      return;
    }
    try {
      const v = await api("POST", "/vaults", {
        name: name.value, region: region.value,
        redundancy: form.querySelector("input[name=redundancy]:checked").value,
      });
      announce(`Vault ${v.name} was created.`);
      location.hash = `#/vault/${encodeURIComponent(v.name)}`;
    } catch (e) {
      st.show("error", errorOf(e));
      name.focus();
    }
  });
  main.append(form);
  name.focus();
}

export async function alerts(main) {
  title(main, "Alerts",
    h("p", {}, "Failed, partial and missed backups, verifications that found damaged recovery points, vault credentials downloaded, passphrases changed, machines deleted, retention shortened and security PINs used, newest first."));
  const r = await api("GET", "/alerts");
  main.append(pagedTable({
    caption: "Alerts", rows: r.alerts, empty: "No alerts.",
    columns: [
      { label: "Time", cell: (a) => time(a.time) },
      { label: "Kind", cell: (a) => h("span", { class: `tag ${a.kind.replace(/\W/g, "-")}` }, a.kind) },
      { label: "About", cell: (a) => a.target },
      { label: "Message", cell: (a) => a.message },
    ],
  }));
}

export async function security(main) {
  title(main, "Security PIN",
    h("p", {}, "Critical operations (deleting machines or recovery points, shortening retention, changing a machine's passphrase) need a security PIN. A PIN is yours alone, valid for 5 minutes and for one operation; each use raises an alert. After 5 wrong PINs in 15 minutes your PINs are void and PIN use is refused for 15 minutes."));
  const out = h("div", { "aria-live": "polite" });
  const btn = h("button", { type: "button", class: "primary" }, "Generate a security PIN");
  btn.addEventListener("click", async () => {
    try {
      const r = await api("POST", "/pin");
      out.replaceChildren(notice("ok", "Security PIN: ", h("strong", { class: "pin", id: "pin-value" }, r.pin),
        " valid until ", time(r.expires), " (5 minutes). Type it where an operation asks for it; it is shown only here."));
    } catch (e) {
      out.replaceChildren(notice("error", errorOf(e)));
    }
  });
  main.append(h("div", { class: "card" }, btn, out));
}

export async function tokens(main) {
  title(main, "API tokens",
    h("p", {}, "Scripts use an API token as \"Authorization: Bearer TOKEN\" to do what the portal does, downloading vault credentials included. A token is shown once, when it is made."));
  const name = h("input", { name: "token-name", required: true, maxlength: "64" });
  const st = formStatus();
  const form = h("form", { class: "card inline" }, field("Token name", name, "1 to 64 characters, unique."),
    h("button", { type: "submit", class: "primary" }, "Create token"), st);
  const list = h("div");
  const load = async () => {
    const r = await api("GET", "/tokens");
    list.replaceChildren(pagedTable({
      caption: "API tokens", rows: r.tokens, empty: "No API tokens.",
      columns: [
        { label: "Name", cell: (t) => t.name },
        { label: "Created", cell: (t) => time(t.created) },
        { label: "Last used", cell: (t) => time(t.last_used) },
        { label: "Action", cell: (t) => h("button", { type: "button", "aria-label": `Delete token ${t.name}`, onclick: async () => {
          try {
            await api("DELETE", `/tokens/${encodeURIComponent(t.id)}`);
            st.show("ok", `Token ${t.name} was deleted; it stops working at once.`);
            await load();
          } catch (e) {
            st.show("error", errorOf(e));
          }
        } }, "Delete") },
      ],
    }));
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/tokens", { name: name.value });
      st.show("ok", `Token ${r.name}: ${r.token} (copy it now: it is not shown again)`);
      name.value = "";
      await load();
    } catch (e) {
      st.show("error", errorOf(e));
    }
  });
  main.append(form, list);
  await load();
}

export async function audit(main) {
  title(main, "Audit log", h("p", {}, "Every destructive or security-relevant action, newest first (the latest 200)."));
  const r = await api("GET", "/audit");
  main.append(pagedTable({
    caption: "Audit log", rows: r.audit, pageSize: 25,
    columns: [
      { label: "Time", cell: (a) => time(a.time) },
      { label: "Actor", cell: (a) => a.actor },
      { label: "Action", cell: (a) => a.action },
      { label: "Target", cell: (a) => a.target },
      { label: "Detail", cell: (a) => h("span", { class: "detail" }, a.detail) },
    ],
  }));
}

export { errorOf, formStatus };
