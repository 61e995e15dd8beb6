// users.js: the users of the subscription (list, invite with the one-time
// code shown once, change role, disable or enable, remove, reset a
// password) and the security setting that requires a second factor, for
// owners and security admins; and the signed-in user's own account page,
// where they enrol a second factor (TOTP). The API refuses what a role
// may not do whatever the page shows (docs/API.md, "Who may call what").

import { api } from "./api.js";
import { h, field, notice, pagedTable, time, timeText } from "./ui.js";
import { title, errorOf, formStatus } from "./pages.js";
import { ROLES, can } from "./roles.js";
import { guardSettings, pendingText } from "./approvals.js";

function roleSelect(id, value, app) {
  // Only an owner makes an owner: the others do not see the choice.
  const roles = can(app, "owner") ? ROLES : ROLES.filter((r) => r !== "owner");
  return h("select", { id, name: "role" }, roles.map((r) => h("option", { value: r, selected: r === value }, r)));
}

export async function users(main, _params, app) {
  title(main, "Users",
    h("p", {}, "Each user has one role. An owner can do everything; a backup operator manages vaults, policies and credentials but cannot delete data or shorten retention; a restore operator downloads vault credentials to restore elsewhere; a reader only reads; a security admin manages users, PINs and the audit log. One enabled owner always remains, and only an owner changes an owner."));
  const st = formStatus();
  const name = h("input", { id: "invite-name", name: "name", required: true, maxlength: "64", autocomplete: "off", spellcheck: "false" });
  const role = roleSelect("invite-role", "reader", app);
  const codeOut = h("div", { id: "invite-code", "aria-live": "polite" });
  const form = h("form", { class: "card inline" },
    field("User name", name, "1 to 64 letters, digits and . _ @ -"),
    field("Role", role),
    h("button", { type: "submit", class: "primary" }, "Invite"), codeOut);
  const list = h("div");
  const showCode = (who, r, what) => codeOut.replaceChildren(notice("ok", `${what} for ${who}: one-time code `,
    h("strong", { class: "mono", id: "one-time-code" }, r.code), ` valid until ${timeText(r.code_expires)}. `,
    "Give it to them by a safe channel: they set their password with it on the sign-in page. It is shown only here."));
  const act = async (label, fn) => {
    try {
      await fn();
      st.show("ok", label);
      await load();
    } catch (e) {
      st.show("error", errorOf(e));
    }
  };
  const load = async () => {
    const r = await api("GET", "/users");
    list.replaceChildren(pagedTable({
      caption: "Users", rows: r.users, empty: "No users.",
      columns: [
        { label: "Name", cell: (u) => u.name },
        { label: "Role", cell: (u) => {
          const sel = roleSelect(`role-${u.name}`, u.role, app);
          sel.setAttribute("aria-label", `Role of ${u.name}`);
          if (u.role === "owner" && !can(app, "owner")) sel.disabled = true;
          sel.addEventListener("change", () => act(`${u.name} is now ${sel.value}.`,
            () => api("PATCH", `/users/${encodeURIComponent(u.name)}`, { role: sel.value })));
          return sel;
        } },
        { label: "State", cell: (u) => (u.code_expires ? `waits for its one-time code (until ${timeText(u.code_expires)})` : u.disabled ? "disabled" : "enabled") },
        { label: "Second factor", cell: (u) => (u.totp ? "yes" : "no") },
        { label: "Created", cell: (u) => time(u.created) },
        { label: "Actions", cell: (u) => {
          const mine = u.role !== "owner" || can(app, "owner");
          const b = (text, fn, cls) => h("button", { type: "button", class: cls || "", disabled: !mine, "aria-label": `${text} ${u.name}`, onclick: fn }, text);
          return h("span", { class: "actions" },
            b(u.disabled ? "Enable" : "Disable", () => act(`${u.name} was ${u.disabled ? "enabled" : "disabled"}.`,
              () => api("PATCH", `/users/${encodeURIComponent(u.name)}`, { disabled: !u.disabled }))), " ",
            b("Reset password", async () => {
              try {
                const r2 = await api("POST", `/users/${encodeURIComponent(u.name)}/reset`);
                showCode(u.name, r2, "Password reset");
                await load();
              } catch (e) {
                st.show("error", errorOf(e));
              }
            }), " ",
            b("Remove", async () => {
              if (!window.confirm(`Remove user ${u.name}? Their sessions and API tokens end.`)) return;
              try {
                const r2 = await api("DELETE", `/users/${encodeURIComponent(u.name)}`);
                st.show(r2.approval ? "warn" : "ok", r2.approval ? pendingText(r2) : `${u.name} was removed.`);
                await load();
              } catch (e) {
                st.show("error", errorOf(e));
              }
            }, "danger"));
        } },
      ],
    }));
  };
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/users", { name: name.value, role: role.value });
      showCode(r.name, r, `Invited as ${r.role}`);
      name.value = "";
      await load();
    } catch (e) {
      codeOut.replaceChildren(notice("error", errorOf(e)));
    }
  });
  // The security setting.
  const s = await api("GET", "/settings");
  const req = h("input", { id: "require-totp", type: "checkbox", checked: s.require_totp });
  req.addEventListener("change", () => act(req.checked ? "Every user now needs a second factor." : "A second factor is no longer required.",
    () => api("PUT", "/settings", { require_totp: req.checked })));
  const everyone = (await api("GET", "/users")).users;
  main.append(form, st, list, h("section", { class: "card", id: "security-settings" }, h("h2", {}, "Security settings"),
    h("label", {}, req, " Require a second factor (an authenticator app's codes) of every user"),
    h("p", { class: "hint" }, "A user without one must enrol on their account page at their next sign-in before doing anything else."),
    await guardSettings(s, everyone, app)));
  await load();
}

// The signed-in user's account: their role and their second factor.
export async function account(main, _params, app) {
  title(main, "My account");
  const who = await api("GET", "/session");
  const out = h("div", { id: "totp-area", "aria-live": "polite" });
  main.append(h("dl", { class: "props" },
    h("dt", {}, "User"), h("dd", {}, who.user),
    h("dt", {}, "Role"), h("dd", { id: "my-role" }, who.role),
    h("dt", {}, "Second factor"), h("dd", { id: "my-totp" }, who.totp ? "enrolled" : "none")));
  if (who.totp_required && !who.totp) {
    main.append(notice("warn", "This subscription requires a second factor of every user: enrol one below before anything else."));
  }
  if (who.totp) {
    main.append(h("p", {}, "You sign in with your password and a code of your authenticator app."));
    return;
  }
  const begin = h("button", { type: "button", class: "primary", id: "totp-begin" }, "Set up a second factor");
  begin.addEventListener("click", async () => {
    try {
      const r = await api("POST", "/session/totp");
      const code = h("input", { id: "totp-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6", required: true });
      const st = formStatus();
      const form = h("form", { class: "card" },
        h("p", {}, "Add this secret to your authenticator app (it is shown only now), then type the code it shows."),
        h("p", {}, "Secret: ", h("strong", { class: "mono", id: "totp-secret" }, r.secret)),
        h("p", { class: "hint" }, "Or open this address on the device: ", h("span", { class: "mono", id: "totp-uri" }, r.uri)),
        field("Code", code, "6 digits"), h("button", { type: "submit", class: "primary" }, "Confirm"), st);
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        try {
          await api("POST", "/session/totp/confirm", { code: code.value });
          app.who.totp = true;
          out.replaceChildren(notice("ok", "Your second factor is enrolled: from now on you sign in with a code too."));
          document.getElementById("my-totp").textContent = "enrolled";
        } catch (e) {
          st.show("error", errorOf(e));
        }
      });
      out.replaceChildren(form);
      code.focus();
    } catch (e) {
      out.replaceChildren(notice("error", errorOf(e)));
    }
  });
  main.append(begin, out);
}
