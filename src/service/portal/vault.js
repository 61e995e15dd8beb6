// vault.js: one vault's pages: Quick Start (vault credentials, the agent's
// install and register commands), properties, machines, jobs and usage.

import { api } from "./api.js";
import { h, notice, pagedTable, time, timeText, bytes, count, saveBlob } from "./ui.js";
import { title, errorOf, formStatus } from "./pages.js";
import { can } from "./roles.js";
import { pendingText } from "./approvals.js";

const TABS = [
  ["", "Quick Start"], ["properties", "Properties"], ["machines", "Machines"],
  ["jobs", "Jobs"], ["usage", "Usage"],
];

export function vaultHref(name, tab) {
  return `#/vault/${encodeURIComponent(name)}${tab ? "/" + tab : ""}`;
}

function tabs(name, current) {
  return h("nav", { class: "tabs", "aria-label": `Vault ${name}` }, h("ul", {},
    TABS.map(([t, label]) => h("li", {}, h("a", { href: vaultHref(name, t), "aria-current": t === current ? "page" : null }, label)))));
}

function header(main, v, tab) {
  const label = TABS.find(([t]) => t === tab)[1];
  title(main, `${v.name}: ${label}`);
  main.append(h("p", { class: "crumbs" }, h("a", { href: "#/vaults" }, "Vaults"), " / ", v.name), tabs(v.name, tab));
}

function code(text) {
  return h("pre", { class: "code", tabindex: "0" }, h("code", {}, text));
}

function credentialsState(v) {
  if (!v.credentials) return "No vault credentials were downloaded yet.";
  return v.credentials.valid
    ? `The latest vault credentials expire at ${timeText(v.credentials.expires)}.`
    : `The latest vault credentials expired at ${timeText(v.credentials.expires)}: download new ones to register a machine.`;
}

export async function quickStart(main, { vault }, app) {
  let v = await api("GET", `/vaults/${encodeURIComponent(vault)}`);
  header(main, v, "");
  const today = new Date().toISOString().slice(0, 10);
  let file = `${v.name}_${today}.VaultCredentials`;
  const state = h("p", { id: "cred-state" }, credentialsState(v));
  const result = h("div", { "aria-live": "polite" });
  const registerCmd = h("div");
  const showRegister = () => registerCmd.replaceChildren(code(
    `sudo arca register --vault-credentials ~/Downloads/${file} \\\n` +
    "    --cache /var/cache/arca --generate-passphrase --passphrase-out ~/arca-recovery-kit.txt"));
  showRegister();
  const dl = h("button", { type: "button", class: "primary", id: "download-credentials", disabled: !can(app, "credentials") }, "Download vault credentials");
  dl.addEventListener("click", async () => {
    dl.disabled = true;
    try {
      const f = await api("POST", `/vaults/${encodeURIComponent(v.name)}/credentials`, undefined, { raw: true });
      file = f.filename;
      saveBlob(f.blob, f.filename);
      v = await api("GET", `/vaults/${encodeURIComponent(v.name)}`);
      state.textContent = credentialsState(v);
      result.replaceChildren(notice("ok", `Downloaded ${f.filename}. It expires at ${timeText(v.credentials.expires)}; any file downloaded before it no longer works.`));
      showRegister();
    } catch (e) {
      result.replaceChildren(notice("error", errorOf(e)));
    } finally {
      dl.disabled = false;
    }
  });
  main.append(
    h("ol", { class: "steps" },
      h("li", {}, h("h2", {}, "Download vault credentials"),
        h("p", {}, "A machine registers to this vault with a vault credentials file. It is used only for registration."),
        notice("warn", h("strong", {}, "Each download makes a new file and every earlier file stops working at once. "),
          "The file expires 48 hours after it is downloaded. Whoever holds it can register machines to this vault (not read its backups): keep it safe."),
        dl, state, result),
      h("li", {}, h("h2", {}, "Download and install the agent"),
        h("p", {}, h("a", { href: "/download/arca", download: "arca", class: "button" }, "Download the agent (arca, Linux)"),
          " then, on the machine to protect:"),
        code("sudo install -m 0755 arca /usr/local/bin/arca")),
      h("li", {}, h("h2", {}, "Register the machine"),
        h("p", {}, "Copy the vault credentials file to the machine (a local folder) and run:"),
        registerCmd,
        notice("warn", "The agent generates a 36-character passphrase (or use --passphrase-file with one of at least 16 characters) and writes it to the recovery kit. ",
          h("strong", {}, "Keep the recovery kit away from this machine: without the passphrase nobody, the service included, can restore its backups."))),
      h("li", {}, h("h2", {}, "Back up"),
        code("sudo arca backup /etc /home\n" +
          "sudo arca policy set --schedule 09:00,21:00 --keep-daily 30 --keep-weekly 8\n" +
          "sudo systemctl enable --now arca-agent   # the resident agent keeps the schedule"),
        h("p", {}, "The machine then appears under ", h("a", { href: vaultHref(v.name, "machines") }, "Machines"), ".")),
      h("li", {}, h("h2", {}, "Browse and restore"),
        h("p", {}, "Mount the recovery points as a read-only folder and copy single files with ordinary tools, or restore whole folders:"),
        code("sudo mkdir -p /mnt/arca\n" +
          "sudo arca mount /mnt/arca        # by-time/, by-id/ and latest\n" +
          "sudo ls /mnt/arca/latest/etc/   # only the user who mounted sees inside\n" +
          "sudo arca umount /mnt/arca\n" +
          "sudo arca restore latest /etc --target /tmp/restored"))));
}

const IMMUTABILITY = {
  mutable: "Mutable: recovery points can be deleted with a security PIN.",
  immutable: "Immutable: no recovery point can be deleted before its retention ends, by anyone; retention can be extended, not reduced. It can be made mutable again with a security PIN.",
  locked: "Locked: immutable for ever. No recovery point can be deleted before its retention ends, and the vault can never be made mutable again, by anyone.",
};

// The immutability card: make the vault immutable, then lock it. Locking
// asks for a confirmation that says it is for ever; the service refuses
// every change of a locked vault whoever asks, this page included.
function immutabilityCard(main, v, vault, app) {
  const st = formStatus();
  const card = h("section", { class: "card", id: "immutability-card" }, h("h2", {}, "Immutability"));
  const change = async (state) => {
    try {
      const r = await api("PATCH", `/vaults/${encodeURIComponent(v.name)}`, { immutability: state });
      if (r.approval) {
        st.show("warn", pendingText(r));
        return;
      }
      main.replaceChildren();
      await properties(main, { vault }, app);
    } catch (e) {
      st.show("error", errorOf(e));
    }
  };
  if (v.immutability === "mutable") {
    const b = h("button", { type: "button", class: "primary" }, "Make immutable");
    b.addEventListener("click", () => {
      if (!window.confirm(`Make vault ${v.name} immutable? From now on no recovery point can be deleted before its retention ends, by anyone, and retention cannot be reduced.`)) return;
      change("immutable");
    });
    card.append(h("p", {}, "An immutable vault keeps every recovery point until its retention ends, whoever asks to delete it: a stolen password cannot remove your backups early."), b);
  } else if (v.immutability === "immutable") {
    const b = h("button", { type: "button", class: "danger" }, "Lock immutability");
    b.addEventListener("click", () => {
      if (!window.confirm(`Lock vault ${v.name}? Locking is forever: the vault can never be made mutable again, by anyone, the service's administrator included. Its recovery points go only when their retention ends.`)) return;
      change("locked");
    });
    card.append(h("p", {}, "Lock the vault to make immutability permanent. ", h("strong", {}, "This cannot be undone.")), b);
  } else {
    card.append(h("p", {}, "This vault is locked: it stays immutable for ever."));
  }
  card.append(st);
  return card;
}

// A GRS vault's replication to its paired region, in words: "up to date",
// or what waits, how long the oldest has, and the last error.
function age(seconds) {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h`;
}

export function replicationText(r) {
  if (!r || r.packs_waiting === 0) return "Up to date";
  let t = `${count(r.packs_waiting, "pack", "packs")} (${bytes(r.bytes_waiting)}) waiting, oldest ${age(r.lag_seconds)}`;
  if (r.last_error) t += `, last error: ${r.last_error}`;
  return t;
}

export async function properties(main, { vault }, app) {
  const v = await api("GET", `/vaults/${encodeURIComponent(vault)}`);
  header(main, v, "properties");
  const st = formStatus();
  const dl = h("dl", { class: "props" },
    h("dt", {}, "Name"), h("dd", {}, v.name),
    h("dt", {}, "Vault id"), h("dd", { class: "mono" }, v.id),
    h("dt", {}, "Region"), h("dd", {}, v.region),
    h("dt", {}, "Created"), h("dd", {}, time(v.created)),
    h("dt", {}, "Machines"), h("dd", {}, `${v.machines} of at most ${v.machines_max}`),
    h("dt", {}, "Storage redundancy"),
    h("dd", { id: "redundancy" }, v.redundancy_locked
      ? `${v.redundancy} (locked: a machine has registered to this vault)`
      : `${v.redundancy} (can change until the first machine registers)`),
    h("dt", {}, "Vault credentials"), h("dd", {}, credentialsState(v)),
    ...(v.replication ? [h("dt", {}, "Replication"),
      h("dd", { id: "replication", class: v.replication.last_error ? "error" : "" },
        replicationText(v.replication))] : []),
    h("dt", {}, "Immutability"), h("dd", { id: "immutability" }, IMMUTABILITY[v.immutability] || v.immutability));
  main.append(dl);
  if (!v.redundancy_locked && can(app, "manage")) {
    const sel = h("select", { id: "redundancy-select", name: "redundancy" },
      ["GRS", "LRS"].map((r) => h("option", { value: r, selected: r === v.redundancy }, r === "GRS" ? "GRS (geo-redundant)" : "LRS (locally redundant)")));
    const form = h("form", { class: "card inline" },
      h("label", { for: "redundancy-select" }, "Storage redundancy"), sel,
      h("button", { type: "submit" }, "Save redundancy"), st);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        await api("PATCH", `/vaults/${encodeURIComponent(v.name)}`, { redundancy: sel.value });
        main.replaceChildren();
        await properties(main, { vault }, app);
      } catch (e) {
        st.show("error", errorOf(e));
      }
    });
    main.append(form);
  }
  // Who may not change it sees the state above alone (api/access.c decides).
  if (can(app, "manage")) main.append(immutabilityCard(main, v, vault, app));
  if (!can(app, "deleteData")) return;
  const del = h("button", { type: "button", class: "danger" }, "Delete vault");
  const dst = formStatus();
  del.addEventListener("click", async () => {
    if (!window.confirm(`Delete vault ${v.name}? This cannot be undone.`)) return;
    try {
      await api("DELETE", `/vaults/${encodeURIComponent(v.name)}`);
      location.hash = "#/vaults";
    } catch (e) {
      dst.show("error", errorOf(e));
    }
  });
  main.append(h("section", { class: "card" }, h("h2", {}, "Delete the vault"),
    h("p", {}, "Only a vault without machines can be deleted."), del, dst));
}

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

// The next time a policy's schedule comes after NOW (times and weekdays are
// UTC, as the service keeps them), or null.
export function nextSlot(policy, now = new Date()) {
  if (!policy || !policy.schedule) return null;
  const days = policy.days && policy.days.length ? policy.days : DAYS;
  const mins = policy.schedule.map((t) => Number(t.slice(0, 2)) * 60 + Number(t.slice(3, 5))).sort((a, b) => a - b);
  const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
  for (let d = 0; d <= 7; d += 1) {
    const day = new Date(midnight + d * 86400000);
    if (!days.includes(DAYS[(day.getUTCDay() + 6) % 7])) continue;
    for (const m of mins) {
      const t = new Date(day.getTime() + m * 60000);
      if (t > now) return t;
    }
  }
  return null;
}

// A machine's state in words, from the vault's jobs (newest first).
function machineState(m, jobs) {
  if (m.deleted) return `deleted ${timeText(m.deleted)}; restorable for 14 days`;
  const last = jobs.find((j) => j.machine === m.name && j.kind === "backup");
  if (!last) return "registered; no backup yet";
  if (last.status === "running") return "backing up now";
  if (last.status === "complete") return "protected";
  return `last backup ${last.status}`;
}

export async function machines(main, { vault }) {
  const v = await api("GET", `/vaults/${encodeURIComponent(vault)}`);
  header(main, v, "machines");
  const [r, jobs] = await Promise.all([
    api("GET", `/vaults/${encodeURIComponent(vault)}/machines`),
    api("GET", `/vaults/${encodeURIComponent(vault)}/jobs`),
  ]);
  const policies = {};
  await Promise.all(r.machines.filter((m) => !m.deleted).map(async (m) => {
    try {
      policies[m.name] = await api("GET", `/vaults/${encodeURIComponent(vault)}/machines/${encodeURIComponent(m.name)}/policy`);
    } catch {
      policies[m.name] = null;
    }
  }));
  const lastBackup = (m) => {
    const j = jobs.jobs.find((x) => x.machine === m.name && x.kind === "backup" && x.ended &&
      (x.status === "complete" || x.status === "partial"));
    return j ? time(j.ended) : h("span", { class: "none" }, "none yet");
  };
  main.append(
    h("p", {}, `${count(r.machines.filter((m) => !m.deleted).length, "machine")} registered, of at most ${r.machines_max}.`),
    pagedTable({
      caption: "Machines", rows: r.machines,
      empty: "No machine is registered yet: follow the Quick Start steps.",
      columns: [
        { label: "Machine", cell: (m) => h("a", { href: `${vaultHref(v.name)}/machine/${encodeURIComponent(m.name)}`, title: `registered ${timeText(m.registered)}` }, m.name) },
        { label: "State", cell: (m) => machineState(m, jobs.jobs) },
        { label: "Last backup", cell: lastBackup },
        { label: "Next scheduled backup", cell: (m) => {
          const t = m.deleted ? null : nextSlot(policies[m.name]);
          return t ? time(t.toISOString()) : h("span", { class: "none" }, m.deleted ? "none" : "no schedule set");
        } },
        { label: "Last seen", cell: (m) => time(m.last_seen) },
      ],
    }));
}

// How long from START to END (ISO times), with its unit: "4 s", "2 min 5 s".
function duration(start, end) {
  const s = Math.max(0, Math.round((new Date(end) - new Date(start)) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

export async function jobs(main, { vault }) {
  const v = await api("GET", `/vaults/${encodeURIComponent(vault)}`);
  header(main, v, "jobs");
  const r = await api("GET", `/vaults/${encodeURIComponent(vault)}/jobs`);
  main.append(pagedTable({
    caption: "Jobs, newest first", rows: r.jobs, empty: "No jobs yet.",
    columns: [
      { label: "Started", cell: (j) => time(j.started) },
      { label: "Machine", cell: (j) => j.machine },
      { label: "Kind", cell: (j) => j.kind },
      { label: "Outcome", cell: (j) => h("span", { class: `tag ${j.status}` }, j.status) },
      { label: "Took", num: true, cell: (j) => (j.ended ? h("span", { title: `ended ${timeText(j.ended)}` }, duration(j.started, j.ended)) : "running") },
      { label: "Files", num: true, cell: (j) => count(j.files, j.kind === "verify" ? "object" : "file") },
      { label: "Read", num: true, cell: (j) => bytes(j.bytes_read) },
      { label: "Stored", num: true, cell: (j) => bytes(j.bytes_stored) },
      { label: "Recovery point", cell: (j) => (j.recovery_point ? h("span", { class: "mono" }, j.recovery_point.slice(0, 12)) : "none") },
      { label: "Report", cell: (j) => {
        const r = j.report || {};
        const skipped = r.skipped || [];
        if (skipped.length) return `${count(skipped.length, "item")} skipped`;
        if (r.error) return r.error;
        if (r.verify) {
          const v = r.verify, bad = v.damaged_points || [];
          const what = `${count(v.points, "recovery point")} checked${v.read_data ? `, ${count(v.data_read, "chunk")} read back` : ""}`;
          return bad.length ? `${count(bad.length, "damaged recovery point")} (${v.missing} objects missing, ${v.damaged} damaged); ${what}. Run 'arca verify' on the machine for the files.` : `no damage: ${what}`;
        }
        if (r.scheduled) return h("span", {}, "scheduled for ", time(r.scheduled));
        return j.status === "running" ? "" : "nothing skipped";
      } },
    ],
  }));
}

export async function usage(main, { vault }) {
  const v = await api("GET", `/vaults/${encodeURIComponent(vault)}`);
  header(main, v, "usage");
  const u = await api("GET", `/vaults/${encodeURIComponent(vault)}/usage`);
  main.append(
    h("p", { class: "figure" }, "Stored in this vault: ", h("strong", { id: "vault-bytes" }, bytes(u.stored_bytes)),
      ` (${Number(u.stored_bytes).toLocaleString()} bytes)`),
    pagedTable({
      caption: "Usage per machine", rows: u.machines, empty: "Nothing stored yet.",
      columns: [
        { label: "Machine", cell: (m) => m.machine },
        { label: "Stored", num: true, cell: (m) => bytes(m.stored_bytes) },
        { label: "Packs", num: true, cell: (m) => count(m.packs, "pack") },
        { label: "Recovery points", num: true, cell: (m) => count(m.recovery_points, "point") },
      ],
    }));
}
