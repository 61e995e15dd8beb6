// approvals.js: multi-user approval. While the subscription has a guard (a
// security admin named in the settings), each critical operation (deleting
// a machine or recovery points, shortening retention, making a vault
// mutable, changing a machine's passphrase, removing a user, changing the
// guard) waits as a request until the guard approves it. This page lists
// the requests: the guard sees every one, with Approve and Refuse and the
// field for their second proof (a code of their authenticator app, or their
// password when they have no second factor); owners and security admins
// see every request; anyone else sees the requests they made. The service
// decides who may decide (docs/API.md, "Approvals"), whatever this shows.

import { api } from "./api.js";
import { h, field, pagedTable, time, timeText } from "./ui.js";
import { title, errorOf, formStatus } from "./pages.js";

// What a page says when the service answered 202: the change waits.
export function pendingText(r) {
  const a = r && r.approval;
  if (!a) return "";
  return `This waits for the approval of ${a.guard}, the subscription's guard (request ${a.id.slice(0, 8)}, until ${timeText(a.expires)}): nothing changes until then. See Pending approvals.`;
}

export async function approvals(main, _params, app) {
  title(main, "Pending approvals",
    h("p", {}, "While the subscription has a guard, deleting machines or recovery points, shortening retention, making a vault mutable, changing a machine's passphrase, removing a user and changing the guard each wait here until the guard approves them. Nobody approves their own request; an unapproved request expires."));
  const st = formStatus();
  const list = h("div");
  const who = await api("GET", "/session");
  const load = async () => {
    const r = await api("GET", "/approvals");
    const guard = r.you_are_guard;
    const proof = guard
      ? (who.totp
        ? h("input", { id: "approval-code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "6" })
        : h("input", { id: "approval-password", name: "password", type: "password", autocomplete: "current-password" }))
      : null;
    const decide = async (a, verb) => {
      const value = proof.value;
      if (!value) {
        proofField.setError(who.totp ? "Type the code your authenticator app shows now." : "Type your password.");
        proof.focus();
        return;
      }
      proofField.setError("");
      proof.value = ""; // a code serves one decision
      try {
        const out = await api("POST", `/approvals/${a.id}/${verb}`, who.totp ? { code: value } : { password: value });
        st.show("ok", verb === "approve" ? `Approved: ${out.approval.summary}. It ran: ${out.approval.result}.` : `Refused: ${out.approval.summary}. Nothing was done.`);
        await load();
      } catch (e) {
        st.show("error", errorOf(e));
      }
    };
    const proofField = guard ? field(who.totp ? "Your one-time code" : "Your password", proof,
      who.totp ? "Each decision needs a fresh code of your authenticator app." : "Each decision needs your password typed again (enrol a second factor to decide with a code instead).") : null;
    const head = r.guard
      ? h("p", { id: "guard-line" }, guard ? "You are the guard: you approve or refuse each request." : `The guard is ${r.guard}.`)
      : h("p", { id: "guard-line" }, "This subscription has no guard: critical operations run at once (with a security PIN). An owner or security admin names one on the Users page.");
    list.replaceChildren(head, guard ? h("div", { class: "card" }, proofField) : "", pagedTable({
      caption: "Requests", rows: r.approvals, empty: "No requests.",
      columns: [
        { label: "Request", cell: (a) => h("span", { class: "mono" }, a.id.slice(0, 8)) },
        { label: "What", cell: (a) => a.summary },
        { label: "Asked by", cell: (a) => a.requested_by },
        { label: "Asked", cell: (a) => time(a.created) },
        { label: "Expires", cell: (a) => time(a.expires) },
        { label: "State", cell: (a) => h("span", { class: `state-${a.state}`, "data-state": a.state },
          a.state + (a.decided_by ? ` by ${a.decided_by}` : "") + (a.result && a.result !== "done" ? ` (failed: ${a.result})` : "")) },
        { label: "Decide", cell: (a) => (guard && a.state === "pending"
          ? h("span", { class: "actions" },
            h("button", { type: "button", class: "primary", "aria-label": `Approve request ${a.id.slice(0, 8)}: ${a.summary}`, onclick: () => decide(a, "approve") }, "Approve"), " ",
            h("button", { type: "button", class: "danger", "aria-label": `Refuse request ${a.id.slice(0, 8)}: ${a.summary}`, onclick: () => decide(a, "refuse") }, "Refuse"))
          : "") },
      ],
    }));
  };
  main.append(st, list);
  await load();
  void app;
}

// The guard's part of the Users page's security settings: name the first
// guard at once; change or remove it (a request the guard approves); how
// long requests wait.
export async function guardSettings(settings, users, app) {
  void app;
  const st = formStatus();
  const admins = users.filter((u) => u.role === "security-admin" && !u.disabled && !u.code_expires);
  const sel = h("select", { id: "guard", name: "guard" },
    h("option", { value: "", selected: !settings.guard }, "none"),
    admins.map((u) => h("option", { value: u.name, selected: u.name === settings.guard }, u.name)));
  const hours = h("input", { id: "approval-hours", name: "approval_hours", type: "number", min: "1", max: "720", value: String(settings.approval_hours) });
  const form = h("form", { class: "inline", id: "guard-form" },
    field("Guard", sel, "A security admin who must approve every critical operation. Naming the first is immediate; changing or removing one waits for the guard's approval."),
    field("Requests wait (hours)", hours, "1 to 720; an unapproved request then expires."),
    h("button", { type: "submit" }, "Save"), st);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const body = { approval_hours: Number(hours.value) };
      if ((sel.value || null) !== (settings.guard || null)) body.guard = sel.value || null;
      const r = await api("PUT", "/settings", body);
      if (r.approval) {
        st.show("warn", pendingText(r));
      } else {
        settings.guard = r.guard;
        st.show("ok", r.guard ? `The guard is ${r.guard}; requests wait ${r.approval_hours} hours.` : "No guard.");
      }
    } catch (e) {
      st.show("error", errorOf(e));
    }
  });
  return h("div", {}, h("h3", {}, "Multi-user approval"), form);
}
