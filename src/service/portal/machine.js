// machine.js: one machine's pages: its recovery points (delete with a
// security PIN, undelete within 14 days), its backup policy (the service
// checks it with the same rules as `arca policy set`), and deleting it.

import { api } from "./api.js";
import { h, field, notice, pagedTable, time, timeText, bytes, count } from "./ui.js";
import { title, errorOf, formStatus } from "./pages.js";
import { vaultHref } from "./vault.js";
import { can } from "./roles.js";
import { pendingText } from "./approvals.js";

const DAYS = [["mon", "Monday"], ["tue", "Tuesday"], ["wed", "Wednesday"], ["thu", "Thursday"],
  ["fri", "Friday"], ["sat", "Saturday"], ["sun", "Sunday"]];

function base(vault, machine) {
  return `/vaults/${encodeURIComponent(vault)}/machines/${encodeURIComponent(machine)}`;
}

function machineHref(vault, machine, tab) {
  return `${vaultHref(vault)}/machine/${encodeURIComponent(machine)}${tab ? "/" + tab : ""}`;
}

function header(main, vault, machine, tab) {
  title(main, `${machine}: ${tab === "policy" ? "Policy" : "Recovery points"}`);
  main.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/vaults" }, "Vaults"), " / ",
      h("a", { href: vaultHref(vault, "machines") }, vault), " / ", machine),
    h("nav", { class: "tabs", "aria-label": `Machine ${machine}` }, h("ul", {},
      h("li", {}, h("a", { href: machineHref(vault, machine), "aria-current": tab ? null : "page" }, "Recovery points")),
      h("li", {}, h("a", { href: machineHref(vault, machine, "policy"), "aria-current": tab === "policy" ? "page" : null }, "Policy")))));
}

// A security PIN field with a button that generates one (shown, to be typed).
function pinField(id) {
  const input = h("input", { id, name: "pin", inputmode: "numeric", autocomplete: "one-time-code", maxlength: "8", pattern: "[0-9]{8}", class: "pin-input" });
  const shown = h("span", { "aria-live": "polite" });
  const gen = h("button", { type: "button" }, "Generate a PIN");
  gen.addEventListener("click", async () => {
    try {
      const r = await api("POST", "/pin");
      shown.replaceChildren("New PIN ", h("strong", { class: "pin" }, r.pin), ` valid until ${timeText(r.expires)}: type it in the field.`);
    } catch (e) {
      shown.replaceChildren(notice("error", errorOf(e)));
    }
  });
  const f = field("Security PIN", input, "8 digits, valid 5 minutes for one operation of yours; needed to delete, and to shorten retention.");
  f.append(gen, " ", shown);
  f.input = input;
  return f;
}

export async function points(main, { vault, machine }, app) {
  // What the role may do here: an owner deletes (with a PIN), a backup
  // operator brings back; the others only look.
  const mayDelete = can(app, "deleteData"), mayUndelete = can(app, "manage");
  header(main, vault, machine, "");
  const st = formStatus();
  const pin = pinField("points-pin");
  const list = h("div");
  const load = async () => {
    const r = await api("GET", `${base(vault, machine)}/recovery-points`);
    const rows = r.recovery_points.slice().reverse();
    const live = rows.filter((p) => !p.deleted).length;
    list.replaceChildren(
      h("p", {}, `${count(live, "live recovery point")} of at most 366; ${count(rows.length - live, "deleted point")} restorable for 14 days after deletion.`),
      pagedTable({
        caption: "Recovery points, newest first", rows, empty: "No recovery points yet.",
        columns: [
          { label: "Created", cell: (p) => time(p.created) },
          { label: "Id", cell: (p) => h("span", { class: "mono" }, p.id.slice(0, 12)) },
          { label: "Stored size", num: true, cell: (p) => bytes(p.bytes) },
          { label: "Objects", num: true, cell: (p) => count(p.objects, "object") },
          { label: "State", cell: (p) => (p.deleted ? h("span", {}, "deleted ", time(p.deleted)) : "live") },
          { label: "Retained until", cell: (p) => (p.retain_until ? time(p.retain_until) : "not evaluated yet") },
          { label: "Action", cell: (p) => (p.deleted
            ? (mayUndelete ? h("button", { type: "button", "aria-label": `Undelete recovery point of ${timeText(p.created)}`, onclick: () => act("POST", p, "undelete") }, "Undelete") : "")
            : (mayDelete ? h("button", { type: "button", class: "danger", "aria-label": `Delete recovery point of ${timeText(p.created)}`, onclick: () => act("DELETE", p, "") }, "Delete") : "")) },
        ],
      }));
  };
  const act = async (method, p, suffix) => {
    const path = `${base(vault, machine)}/recovery-points/${encodeURIComponent(p.id)}${suffix ? "/" + suffix : ""}`;
    if (method === "DELETE" && !/^[0-9]{8}$/.test(pin.input.value)) {
      pin.setError("Enter a security PIN (8 digits) to delete: generate one with the button.");
      pin.input.focus();
      return;
    }
    pin.setError("");
    try {
      const used = method === "DELETE" ? pin.input.value : "";
      if (used) pin.input.value = ""; // a PIN serves one operation
      const r = await api(method, path, undefined, used ? { pin: used } : {});
      if (r.approval) {
        st.show("warn", pendingText(r));
        await load();
        return;
      }
      const msg = method === "DELETE"
        ? `Recovery point of ${timeText(p.created)} was deleted; it can be undeleted for 14 days.`
        : `Recovery point of ${timeText(p.created)} was undeleted.`;
      st.show("ok", msg);
      await load();
    } catch (e) {
      st.show("error", errorOf(e));
    }
  };
  main.append(mayDelete ? h("div", { class: "card" }, pin) : "", st, list);
  await load();
  if (!mayDelete && !mayUndelete) return;
  const del = h("button", { type: "button", class: "danger" }, "Delete this machine");
  const dst = formStatus();
  del.addEventListener("click", async () => {
    if (!/^[0-9]{8}$/.test(pin.input.value)) {
      pin.setError("Enter a security PIN (8 digits) to delete the machine.");
      pin.input.focus();
      return;
    }
    try {
      const r = await api("DELETE", base(vault, machine), undefined, { pin: pin.input.value });
      pin.input.value = ""; // a PIN serves one operation
      if (r.approval) dst.show("warn", pendingText(r));
      else dst.show("ok", `Machine ${machine} was deleted; it can be undeleted for 14 days.`);
    } catch (e) {
      dst.show("error", errorOf(e));
    }
  });
  const undel = h("button", { type: "button" }, "Undelete this machine");
  undel.addEventListener("click", async () => {
    try {
      await api("POST", `${base(vault, machine)}/undelete`);
      dst.show("ok", `Machine ${machine} was undeleted.`);
    } catch (e) {
      dst.show("error", errorOf(e));
    }
  });
  main.append(h("section", { class: "card" }, h("h2", {}, mayDelete ? "Delete or undelete the machine" : "Undelete the machine"),
    h("p", {}, "A deleted machine can no longer back up; its data stays restorable for 14 days."), mayDelete ? del : "", " ", undel, dst));
}

export async function policy(main, { vault, machine }, app) {
  header(main, vault, machine, "policy");
  let cur = null;
  try {
    cur = await api("GET", `${base(vault, machine)}/policy`);
  } catch (e) {
    if (e.status !== 404) throw e;
  }
  const p = cur || { schedule: ["21:00"], days: DAYS.map(([d]) => d), keep_daily: 30, keep_weekly: 8, keep_monthly: 12, keep_yearly: 0 };
  const times = h("input", { id: "policy-times", name: "schedule", value: p.schedule.join(", "), autocomplete: "off" });
  const dayBoxes = DAYS.map(([d, label]) => h("label", {}, h("input", { type: "checkbox", name: "days", value: d, checked: !p.days || p.days.includes(d) }), ` ${label}`));
  const num = (key, label, floor) => {
    const input = h("input", { id: `policy-${key}`, name: key, type: "number", min: "0", step: "1", value: String(p[key] || 0) });
    return field(label, input, `0 keeps none of this kind; otherwise at least ${floor}.`);
  };
  // The scheduled verification (optional): every N days, reading P% back.
  const verifyOn = h("input", { id: "policy-verify", name: "verify", type: "checkbox", checked: !!p.verify });
  const verifyDays = h("input", { id: "policy-verify-days", name: "verify_every_days", type: "number", min: "1", max: "365", step: "1", value: String(p.verify ? p.verify.every_days : 7) });
  const verifySample = h("input", { id: "policy-verify-sample", name: "verify_sample", type: "number", min: "1", max: "100", step: "1", value: String(p.verify ? p.verify.sample : 5) });
  const verifySet = h("fieldset", { class: "verify" }, h("legend", {}, "Scheduled verification"),
    h("label", {}, verifyOn, " Verify the recovery points after a scheduled backup"),
    field("Every (days)", verifyDays, "1 to 365 days between verifications."),
    field("Data read back (percent)", verifySample, "1 to 100: the share of the data downloaded and authenticated; the rest is checked in the catalog and the store."));
  const pin = pinField("policy-pin");
  const st = formStatus();
  const timesField = field("Backup times (UTC, HH:MM, comma-separated)", times, "1 to 3 times a day.");
  // The service keeps times in UTC; say what they are here.
  const localTimes = h("p", { class: "hint", "aria-live": "polite" });
  const showLocal = () => {
    const today = new Date().toISOString().slice(0, 10);
    const shown = times.value.split(",").map((t) => t.trim()).filter((t) => /^\d\d:\d\d$/.test(t))
      .map((t) => new Date(`${today}T${t}:00Z`).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit", timeZoneName: "short" }));
    localTimes.textContent = shown.length ? `In your time zone: ${shown.join(", ")}.` : "";
  };
  times.addEventListener("input", showLocal);
  showLocal();
  timesField.append(localTimes);
  const form = h("form", { class: "card" },
    h("p", {}, cur ? `Current policy: keeps at most ${count(cur.max_points, "recovery point")}.` : "No policy is set: nothing expires and no backup is scheduled."),
    timesField,
    h("fieldset", { class: "days" }, h("legend", {}, "Days (UTC)"), dayBoxes),
    num("keep_daily", "Daily points kept", 7), num("keep_weekly", "Weekly points kept", 4),
    num("keep_monthly", "Monthly points kept", 3), num("keep_yearly", "Yearly points kept", 1),
    verifySet,
    pin,
    h("button", { type: "submit", class: "primary" }, "Save policy"), st);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = Object.assign({}, cur || {});
    delete body.max_points;
    body.schedule = times.value.split(",").map((t) => t.trim()).filter(Boolean);
    body.days = dayBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    for (const k of ["keep_daily", "keep_weekly", "keep_monthly", "keep_yearly"]) {
      body[k] = Number(form.querySelector(`[name=${k}]`).value || 0);
    }
    body.verify = verifyOn.checked ? { every_days: Number(verifyDays.value || 0), sample: Number(verifySample.value || 0) } : null;
    try {
      const saved = await api("PUT", `${base(vault, machine)}/policy`, body, { pin: pin.input.value || undefined });
      if (saved.approval) {
        pin.input.value = "";
        st.show("warn", pendingText(saved));
        return;
      }
      const verify = saved.verify ? ` Verifies every ${count(saved.verify.every_days, "day")}, reading ${saved.verify.sample}% of the data.` : "";
      const msg = `Policy saved: ${saved.schedule.join(", ")} UTC; keeps at most ${count(saved.max_points, "recovery point")}.${verify}`;
      st.show("ok", msg);
      cur = saved;
    } catch (e) {
      st.show("error", errorOf(e));
    }
  });
  // Who may not set a policy sees it, and cannot save it.
  if (!can(app, "manage")) {
    for (const el of form.querySelectorAll("input, select, button")) el.disabled = true;
  }
  main.append(form);
}
