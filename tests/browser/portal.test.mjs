// portal.test.mjs: the portal in a real browser, from sign-in through the
// Quick Start flow: a vault, its vault credentials downloaded by the browser
// and used by a real agent to register, a real backup seen as a recovery
// point and a job, a refused policy, deleting and undeleting a point, a
// superseded credentials file, and changes without the CSRF token or the
// session. The steps run in order against one service and one browser.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync, readFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";
import { startService, startBrowser, tempDir, shot, register, arca, pageFetch, PASSWORD, pageReady, pageGo } from "./harness.mjs";

const SUITE = "quick-start";
const VAULT = "web-vault";
const TZ = "Asia/Kolkata";
let dir, svc, browser, context, page;
const state = {};

before(async () => {
  dir = tempDir();
  svc = await startService(dir);
  ({ browser, context } = await startBrowser(TZ));
  page = await context.newPage();
  page.on("pageerror", (e) => { state.pageErrors = (state.pageErrors || []).concat(String(e)); });
  page.on("console", (m) => {
    // Error answers of the API are expected; a CSP violation or script error is not.
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of (40[0-9]|409)/.test(m.text())) state.consoleErrors = (state.consoleErrors || []).concat(m.text());
  });
});

after(async () => {
  if (browser) await browser.close();
  if (svc) await svc.stop();
});

// Wait until the portal has rendered the page at HASH.
async function ready(hash) {
  await pageReady(page, hash);
}

async function go(hash) {
  await pageGo(page, svc.url, hash);
}

// What Chromium shows for ISO in the test's time zone, as the portal formats it.
function local(iso) {
  return new Intl.DateTimeFormat("en-GB", {
    year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short", timeZone: TZ,
  }).format(new Date(iso));
}

test("sign in: a wrong password is refused, the right one gives an HttpOnly, Secure, SameSite=Strict session", async () => {
  await page.goto(svc.url + "/");
  await ready("#/signin");
  await shot(page, SUITE, "sign-in");
  // Keyboard only: the user field has focus, Tab reaches the password.
  assert.equal(await page.evaluate(() => document.activeElement.name), "user");
  await page.keyboard.press("Tab");
  await page.keyboard.type("not the password");
  await page.keyboard.press("Enter");
  await page.getByText("user name or password is wrong").waitFor();
  await shot(page, SUITE, "sign-in-refused");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.keyboard.press("Enter");
  await ready("#/vaults");
  await page.getByRole("heading", { name: "Vaults" }).waitFor();
  await shot(page, SUITE, "vaults-empty");
  const cookies = await context.cookies();
  const c = cookies.find((x) => x.name === "arca_session");
  assert.ok(c, "the session cookie is set");
  assert.equal(c.httpOnly, true);
  assert.equal(c.secure, true);
  assert.equal(c.sameSite, "Strict");
  assert.equal(await page.evaluate(() => document.cookie.includes("arca_session")), false);
  assert.match(await page.locator("footer").innerText(), /Asia\/(Kolkata|Calcutta)/);
});

test("create a vault: a bad name is refused as it is typed and when sent, a good one is created", async () => {
  await page.getByRole("link", { name: "Create a vault" }).click();
  await ready("#/vaults/new");
  const name = page.getByLabel("Name");
  await name.fill("9lives");
  await page.getByText("must start with a letter").waitFor();
  assert.equal(await name.getAttribute("aria-invalid"), "true");
  await page.getByRole("button", { name: "Create vault" }).click();
  await shot(page, SUITE, "create-vault-bad-name");
  let r = await pageFetch(page, "GET", "/vaults");
  assert.equal(r.body.vaults.length, 0, "a bad name creates nothing");
  await name.fill("x");
  await page.getByText("must be 2 to 50 characters long").waitFor();
  await name.fill(VAULT);
  assert.equal(await name.getAttribute("aria-invalid"), null);
  await page.getByText("locked once the first machine registers").waitFor();
  await page.getByLabel(/Locally redundant/).check();
  await shot(page, SUITE, "create-vault-filled");
  await page.getByRole("button", { name: "Create vault" }).click();
  await ready(`#/vault/${VAULT}`);
  await page.getByRole("heading", { name: `${VAULT}: Quick Start` }).waitFor();
  r = await pageFetch(page, "GET", `/vaults/${VAULT}`);
  assert.equal(r.body.redundancy, "LRS");
  // The service refuses what the page cannot know: a taken name.
  await go("#/vaults/new");
  await page.getByLabel("Name").fill(VAULT);
  await page.getByRole("button", { name: "Create vault" }).click();
  await page.locator(".notice.error").waitFor();
  assert.match(await page.locator(".notice.error").innerText(), /exists|taken/);
  await shot(page, SUITE, "create-vault-taken");
});

// Download vault credentials from the Quick Start page; with KEYBOARD, by
// tabbing to the button from the top of the page and pressing Enter.
async function downloadCredentials(n, keyboard = false) {
  await go(`#/vault/${VAULT}`);
  let press;
  if (keyboard) {
    for (let i = 0; i < 40; i += 1) {
      await page.keyboard.press("Tab");
      if (await page.evaluate(() => document.activeElement.id === "download-credentials")) break;
    }
    assert.equal(await page.evaluate(() => document.activeElement.id), "download-credentials",
      "the download button is reachable with Tab");
    press = page.keyboard.press("Enter");
  } else {
    press = page.getByRole("button", { name: "Download vault credentials" }).click();
  }
  const [dl] = await Promise.all([page.waitForEvent("download"), press]);
  const path = join(dir, `download-${n}`, dl.suggestedFilename());
  mkdirSync(join(dir, `download-${n}`), { recursive: true });
  await dl.saveAs(path);
  await page.getByText(`Downloaded ${dl.suggestedFilename()}`).waitFor();
  return { path, name: dl.suggestedFilename() };
}

test("download vault credentials from the Quick Start page and register an agent with that very file", async () => {
  const f = await downloadCredentials(1);
  const today = new Date().toISOString().slice(0, 10);
  assert.equal(f.name, `${VAULT}_${today}.VaultCredentials`);
  const xml = readFileSync(f.path, "utf8");
  assert.match(xml, /^<\?xml/);
  assert.match(xml, new RegExp(`<VaultName>${VAULT}</VaultName>|${VAULT}`));
  const main = await page.locator("main").innerText();
  assert.match(main, /every earlier file stops working/);
  assert.match(main, /expires 48 hours after/);
  assert.match(main, new RegExp(`arca register --vault-credentials ~/Downloads/${f.name}`));
  // The last step: browsing the points as a read-only folder.
  assert.match(main, /sudo arca mount \/mnt\/arca/);
  assert.match(main, /sudo arca umount \/mnt\/arca/);
  await shot(page, SUITE, "quick-start-downloaded");
  // The agent offered for download is the real binary.
  const agent = await page.request.get(svc.url + "/download/arca");
  assert.equal(agent.status(), 200);
  assert.deepEqual([...(await agent.body()).subarray(0, 4)], [0x7f, 0x45, 0x4c, 0x46]);
  const r = register(dir, "web-01", f.path);
  assert.equal(r.status, 0, r.stderr);
  state.first = f.path;
  state.home = r.home;
});

test("the machine appears and the storage redundancy is locked", async () => {
  await go(`#/vault/${VAULT}/machines`);
  const row = page.getByRole("row", { name: /web-01/ });
  await row.waitFor();
  assert.match(await row.innerText(), /registered; no backup yet/);
  await shot(page, SUITE, "machines-registered");
  await go(`#/vault/${VAULT}/properties`);
  assert.match(await page.locator("#redundancy").innerText(), /LRS \(locked/);
  assert.equal(await page.locator("#redundancy-select").count(), 0, "no way to change a locked redundancy");
  await shot(page, SUITE, "properties-locked");
});

test("a real backup shows as a recovery point and a complete job, with units and local times", async () => {
  const src = join(dir, "src");
  mkdirSync(join(src, "docs"), { recursive: true });
  writeFileSync(join(src, "docs", "a.txt"), "the first file\n".repeat(1000));
  writeFileSync(join(src, "b.bin"), Buffer.alloc(300000, 7));
  let b = arca(state.home, "backup", src);
  assert.equal(b.status, 0, b.stderr);
  appendFileSync(join(src, "docs", "a.txt"), "changed\n");
  b = arca(state.home, "backup", src);
  assert.equal(b.status, 0, b.stderr);
  state.src = src;

  await go(`#/vault/${VAULT}/machine/web-01`);
  const rows = page.locator("tbody tr");
  await rows.first().waitFor();
  assert.equal(await rows.count(), 2);
  assert.match(await page.locator("main").innerText(), /2 live recovery points of at most 366/);
  const pts = (await pageFetch(page, "GET", `/vaults/${VAULT}/machines/web-01/recovery-points`)).body.recovery_points;
  assert.equal(pts.length, 2);
  const first = await rows.first().innerText();
  assert.ok(first.includes(local(pts[1].created)), `${first} shows ${pts[1].created} in ${TZ}`);
  assert.match(first, /\d (B|KiB|MiB)\b/);
  assert.match(first, /\d+ objects/);
  await shot(page, SUITE, "recovery-points");

  await go(`#/vault/${VAULT}/jobs`);
  const job = page.getByRole("row", { name: /web-01/ }).first();
  const text = await job.innerText();
  assert.match(text, /backup/);
  assert.match(text, /complete/);
  assert.match(text, /\d+ files?/);
  assert.match(text, /\d+(\.\d+)? (B|KiB|MiB)/);
  assert.match(text, /\d+ s\b/);
  assert.match(text, /nothing skipped/);
  await shot(page, SUITE, "jobs");

  await go(`#/vault/${VAULT}/usage`);
  assert.match(await page.locator("#vault-bytes").innerText(), /^\d+(\.\d+)? (B|KiB|MiB)$/);
  assert.match(await page.getByRole("row", { name: /web-01/ }).innerText(), /2 points/);
  await shot(page, SUITE, "usage");

  await go(`#/vault/${VAULT}/machines`);
  const m = await page.getByRole("row", { name: /web-01/ }).innerText();
  assert.match(m, /protected/);
  assert.match(m, /no schedule set/);
});

test("a policy with four backups a day is refused; a valid one is saved and schedules the next backup", async () => {
  await go(`#/vault/${VAULT}/machine/web-01/policy`);
  await page.getByLabel(/Backup times/).fill("01:00, 07:00, 13:00, 19:00");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByText("A machine can be backed up at most 3 times a day").waitFor();
  await shot(page, SUITE, "policy-four-a-day-refused");
  let r = await pageFetch(page, "GET", `/vaults/${VAULT}/machines/web-01/policy`);
  assert.equal(r.status, 404, "the refused policy was not stored");
  // Below a retention floor: refused with the service's words too.
  await page.getByLabel(/Backup times/).fill("09:30, 21:00");
  await page.getByLabel("Daily points kept").fill("3");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByText(/retention can never be set below 7/).waitFor();
  await page.getByLabel("Daily points kept").fill("14");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByText(/Policy saved: 09:30, 21:00 UTC/).waitFor();
  await shot(page, SUITE, "policy-saved");
  r = await pageFetch(page, "GET", `/vaults/${VAULT}/machines/web-01/policy`);
  assert.deepEqual(r.body.schedule, ["09:30", "21:00"]);
  assert.equal(r.body.keep_daily, 14);
  assert.equal(r.body.verify, undefined, "no scheduled verification unless asked for");
  // A scheduled verification, saved and shown.
  await page.getByLabel(/Verify the recovery points/).check();
  await page.getByLabel("Every (days)").fill("7");
  await page.getByLabel(/Data read back/).fill("5");
  await page.getByRole("button", { name: "Save policy" }).click();
  await page.getByText(/Verifies every 7 days, reading 5% of the data/).waitFor();
  await shot(page, SUITE, "policy-verify-saved");
  r = await pageFetch(page, "GET", `/vaults/${VAULT}/machines/web-01/policy`);
  assert.deepEqual(r.body.verify, { every_days: 7, sample: 5 });
  await go(`#/vault/${VAULT}/machines`);
  const m = await page.getByRole("row", { name: /web-01/ }).innerText();
  assert.doesNotMatch(m, /no schedule set/);
  assert.match(m, /IST|GMT\+5:30/);
  await shot(page, SUITE, "machines-scheduled");
});

test("delete a recovery point with a security PIN, then undelete it", async () => {
  await go(`#/vault/${VAULT}/machine/web-01`);
  const del = page.getByRole("button", { name: /^Delete recovery point/ }).first();
  await del.click();
  await page.getByText("Enter a security PIN (8 digits) to delete").waitFor();
  let pts = (await pageFetch(page, "GET", `/vaults/${VAULT}/machines/web-01/recovery-points`)).body.recovery_points;
  assert.equal(pts.filter((p) => p.deleted).length, 0, "nothing is deleted without a PIN");
  await page.getByRole("button", { name: "Generate a PIN" }).click();
  const pin = (await page.locator("strong.pin").innerText()).trim();
  assert.match(pin, /^\d{8}$/);
  await page.getByLabel("Security PIN").fill(pin);
  await shot(page, SUITE, "point-delete-pin");
  await del.click();
  await page.getByText(/was deleted; it can be undeleted for 14 days/).waitFor();
  await page.getByRole("button", { name: /^Undelete recovery point/ }).waitFor();
  await shot(page, SUITE, "point-deleted");
  pts = (await pageFetch(page, "GET", `/vaults/${VAULT}/machines/web-01/recovery-points`)).body.recovery_points;
  assert.equal(pts.filter((p) => p.deleted).length, 1);
  // The agent no longer lists it.
  const listed = JSON.parse(arca(state.home, "recovery-points", "--json").stdout.trim().split("\n").pop());
  const n = (listed.recovery_points || listed).length;
  assert.equal(n, 1);
  await page.getByRole("button", { name: /^Undelete recovery point/ }).click();
  await page.getByText(/was undeleted/).waitFor();
  await shot(page, SUITE, "point-undeleted");
  pts = (await pageFetch(page, "GET", `/vaults/${VAULT}/machines/web-01/recovery-points`)).body.recovery_points;
  assert.equal(pts.filter((p) => p.deleted).length, 0);
  await go("#/alerts");
  const alerts = await page.locator("main").innerText();
  assert.match(alerts, /pin\.used/);
  assert.match(alerts, /credentials\.downloaded/);
  await shot(page, SUITE, "alerts");
  await go("#/audit");
  const audit = await page.locator("main").innerText();
  for (const a of ["point.delete", "point.undelete", "policy.set", "credentials.download", "vault.create"]) {
    assert.ok(audit.includes(a), `the audit log shows ${a}`);
  }
  await shot(page, SUITE, "audit");
});

test("a second download of vault credentials makes the first file fail registration", async () => {
  const second = await downloadCredentials(2, true);
  const stale = register(dir, "web-02", state.first);
  assert.notEqual(stale.status, 0);
  assert.match(stale.stderr + stale.stdout, /Invalid vault credentials provided/);
  const fresh = register(dir, "web-02", second.path);
  assert.equal(fresh.status, 0, fresh.stderr);
  await go(`#/vault/${VAULT}/machines`);
  await page.getByRole("row", { name: /web-02/ }).waitFor();
  await shot(page, SUITE, "machines-two");
});

test("long lists come in pages; API tokens are made and shown once", async () => {
  const { csrf } = (await pageFetch(page, "GET", "/session")).body;
  for (let i = 1; i <= 22; i += 1) {
    const r = await pageFetch(page, "POST", "/tokens", { name: `script-${String(i).padStart(2, "0")}` }, { "X-CSRF-Token": csrf });
    assert.equal(r.status, 201);
  }
  await go("#/tokens");
  await page.getByLabel("Token name").fill("from-the-page");
  await page.getByRole("button", { name: "Create token" }).click();
  const made = await page.locator(".notice.ok").innerText();
  assert.match(made, /Token from-the-page: [0-9a-f]{64} \(copy it now/);
  await page.getByText("Page 1 of 2 (23 in all)").waitFor();
  assert.equal(await page.locator("tbody tr").count(), 20);
  await shot(page, SUITE, "tokens-page-1");
  await page.getByRole("button", { name: "Next page" }).click();
  await page.getByText("Page 2 of 2 (23 in all)").waitFor();
  assert.equal(await page.locator("tbody tr").count(), 3);
  assert.equal(await page.getByRole("button", { name: "Next page" }).isDisabled(), true);
  // The page never shows a token again, only its name.
  assert.doesNotMatch(await page.locator("table").innerText(), /[0-9a-f]{64}/);
  await shot(page, SUITE, "tokens-page-2");
});

test("security PIN page; a machine deleted with a PIN and undeleted; redundancy changed and a vault deleted before any registration", async () => {
  await go("#/security");
  await page.getByRole("button", { name: "Generate a security PIN" }).click();
  assert.match(await page.locator("#pin-value").innerText(), /^\d{8}$/);
  assert.match(await page.locator(".notice.ok").innerText(), /valid until .*GMT\+5:30 \(5 minutes\)/);
  await shot(page, SUITE, "security-pin");
  const pin = await page.locator("#pin-value").innerText();

  await go(`#/vault/${VAULT}/machine/web-02`);
  await page.getByLabel("Security PIN").fill(pin);
  await page.getByRole("button", { name: "Delete this machine", exact: true }).click();
  await page.getByText("Machine web-02 was deleted; it can be undeleted for 14 days.").waitFor();
  await go(`#/vault/${VAULT}/machines`);
  assert.match(await page.getByRole("row", { name: /web-02/ }).innerText(), /deleted .*restorable for 14 days/);
  await shot(page, SUITE, "machine-deleted");
  await go("#/alerts");
  assert.match(await page.locator("main").innerText(), /machine\.deleted/);
  await go(`#/vault/${VAULT}/machine/web-02`);
  await page.getByRole("button", { name: "Undelete this machine" }).click();
  await page.getByText("Machine web-02 was undeleted.").waitFor();
  await go(`#/vault/${VAULT}/machines`);
  assert.doesNotMatch(await page.getByRole("row", { name: /web-02/ }).innerText(), /deleted/);

  const { csrf } = (await pageFetch(page, "GET", "/session")).body;
  assert.equal((await pageFetch(page, "POST", "/vaults", { name: "spare-vault", region: "local-2", redundancy: "GRS" },
    { "X-CSRF-Token": csrf })).status, 201);
  await go("#/vaults");
  assert.match(await page.getByRole("row", { name: /web-vault/ }).innerText(), /LRS \(locked\)/);
  assert.match(await page.getByRole("row", { name: /spare-vault/ }).innerText(), /GRS\s+0 of 50/);
  await shot(page, SUITE, "vaults-two");
  await go("#/vault/spare-vault/properties");
  assert.match(await page.locator("#redundancy").innerText(), /GRS \(can change until the first machine registers\)/);
  await page.getByLabel("Storage redundancy").selectOption("LRS");
  await page.getByRole("button", { name: "Save redundancy" }).click();
  await page.locator("#redundancy", { hasText: "LRS (can change" }).waitFor();
  await shot(page, SUITE, "properties-unlocked");
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete vault" }).click();
  await ready("#/vaults");
  assert.equal(await page.getByRole("row", { name: /spare-vault/ }).count(), 0);
  // A vault with machines cannot be deleted: the service says why.
  await go(`#/vault/${VAULT}/properties`);
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Delete vault" }).click();
  await page.locator(".notice.error").waitFor();
  assert.equal((await pageFetch(page, "GET", `/vaults/${VAULT}`)).status, 200);
});

test("a change without the CSRF token, or from a signed-out session, changes nothing", async () => {
  await go("#/vaults");
  const before = (await pageFetch(page, "GET", "/vaults")).body.vaults.map((v) => v.name);
  let r = await pageFetch(page, "POST", "/vaults", { name: "forged-1", region: "local-1" });
  assert.equal(r.status, 403);
  assert.equal(r.body.error.code, "csrf");
  r = await pageFetch(page, "POST", "/vaults", { name: "forged-2", region: "local-1" }, { "X-CSRF-Token": "0".repeat(64) });
  assert.equal(r.status, 403);
  r = await pageFetch(page, "PATCH", `/vaults/${VAULT}`, { redundancy: "GRS" });
  assert.equal(r.status, 403);
  r = await pageFetch(page, "POST", `/vaults/${VAULT}/credentials`);
  assert.equal(r.status, 403);
  r = await pageFetch(page, "DELETE", "/session");
  assert.equal(r.status, 403, "even signing out needs the token");
  const who = await pageFetch(page, "GET", "/session");
  assert.equal(who.status, 200);
  const csrf = who.body.csrf;
  assert.match(csrf, /^[0-9a-f]{64}$/);
  assert.deepEqual((await pageFetch(page, "GET", "/vaults")).body.vaults.map((v) => v.name), before);
  const cookie = (await context.cookies()).find((x) => x.name === "arca_session");

  // Sign out with the button: the cookie goes, the session ends.
  await page.getByRole("button", { name: "Sign out" }).click();
  await ready("#/signin");
  await shot(page, SUITE, "signed-out");
  assert.equal((await context.cookies()).find((x) => x.name === "arca_session"), undefined);
  r = await pageFetch(page, "GET", "/vaults");
  assert.equal(r.status, 401);
  // The old cookie, even with its CSRF token, no longer changes anything.
  await context.addCookies([cookie]);
  r = await pageFetch(page, "POST", "/vaults", { name: "after-sign-out", region: "local-1" }, { "X-CSRF-Token": csrf });
  assert.equal(r.status, 401);
  r = await pageFetch(page, "POST", `/vaults/${VAULT}/credentials`, undefined, { "X-CSRF-Token": csrf });
  assert.equal(r.status, 401);
  await context.clearCookies();
  // Check through a fresh sign-in that nothing changed.
  await page.goto(svc.url + "/");
  await ready("#/signin");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await ready("#/vaults");
  const v = (await pageFetch(page, "GET", `/vaults/${VAULT}`)).body;
  assert.deepEqual((await pageFetch(page, "GET", "/vaults")).body.vaults.map((x) => x.name), before);
  assert.equal(v.redundancy, "LRS");
  // The second file is still the valid one: no forged download superseded it.
  const third = register(dir, "web-03", join(dir, "download-2", `${VAULT}_${new Date().toISOString().slice(0, 10)}.VaultCredentials`));
  assert.equal(third.status, 0, third.stderr);
});

test("no page logged a script error or a CSP violation", () => {
  assert.deepEqual(state.pageErrors || [], []);
  assert.deepEqual(state.consoleErrors || [], []);
});
