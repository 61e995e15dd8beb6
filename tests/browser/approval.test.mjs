// approval.test.mjs: multi-user approval in a real browser. The owner names
// a guard on the Users page; deleting a recovery point then only shows that
// it waits for the guard's approval, and nothing is deleted; the owner sees
// the request pending, without Approve or Refuse. The guard signs in,
// refuses one request with their password (nothing happens), enrols a
// second factor and approves the other with a code: that point is deleted.
// A reader sees the list without any decision, and the API refuses them.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startService, startBrowser, tempDir, shot, pageFetch, arca, register, BUILD, PASSWORD, pageReady, pageGo, totp, watchErrors } from "./harness.mjs";

const SUITE = "approval";
const VAULT = "guarded-vault";
const MACHINE = `/vaults/${VAULT}/machines/web-01`;
let dir, svc, browser, context, page;
const state = {};
const errors = [];

before(async () => {
  dir = tempDir();
  svc = await startService(dir);
  ({ browser, context } = await startBrowser());
  page = await context.newPage();
  watchErrors(page, (t) => errors.push(t));
});

after(async () => {
  if (browser) await browser.close();
  if (svc) await svc.stop();
});

async function ready(hash) {
  await pageReady(page, hash);
}

async function go(hash) {
  await pageGo(page, svc.url, hash);
}


async function signIn(user) {
  await page.goto(svc.url + "/");
  await ready("#/signin");
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await ready("#/vaults");
  state.csrf = (await pageFetch(page, "GET", "/session")).body.csrf;
}

async function signOut() {
  await page.getByRole("button", { name: "Sign out" }).click();
  await ready("#/signin");
}

// A user of ROLE made by the host's admin command, with the test password.
function addUser(name, role) {
  const pw = join(dir, "pw");
  const p = spawnSync(join(BUILD, "arcad"), ["user", "add", "--data", svc.data, name, "--role", role, "--password-file", pw], { encoding: "utf8" });
  assert.equal(p.status, 0, p.stderr);
}

async function points() {
  return (await pageFetch(page, "GET", `${MACHINE}/recovery-points`)).body.recovery_points;
}

test("a machine with two recovery points; the owner names the guard on the Users page", async () => {
  addUser("gwen", "security-admin");
  addUser("rita", "reader");
  await signIn("owner");
  assert.equal((await pageFetch(page, "POST", "/vaults", { name: VAULT, region: "local-1" }, { "X-CSRF-Token": state.csrf })).status, 201);
  const creds = join(dir, "creds.VaultCredentials");
  const cr = await page.request.post(`${svc.url}/api/v1/vaults/${VAULT}/credentials`, { headers: { "X-CSRF-Token": state.csrf } });
  assert.equal(cr.status(), 201);
  writeFileSync(creds, await cr.body());
  const r = register(dir, "web-01", creds);
  assert.equal(r.status, 0, r.stderr);
  const src = join(dir, "src");
  mkdirSync(src, { recursive: true });
  for (let i = 0; i < 2; i++) {
    writeFileSync(join(src, "f.txt"), `version ${i}\n`.repeat(500));
    const b = arca(r.home, "backup", src);
    assert.equal(b.status, 0, b.stderr);
  }
  const pts = await points();
  assert.equal(pts.length, 2);
  state.points = pts.map((p) => p.id);

  await go("#/users");
  await page.getByLabel("Guard").selectOption("gwen");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByText("The guard is gwen").waitFor();
  await shot(page, SUITE, "guard-named");
  assert.equal((await pageFetch(page, "GET", "/settings")).body.guard, "gwen");
});

test("the owner deletes a point: it waits for the guard, and nothing is deleted", async () => {
  await go(`#/vault/${VAULT}/machine/web-01`);
  let pin = "";
  for (let i = 0; i < 2; i++) {
    await page.getByRole("button", { name: "Generate a PIN" }).click();
    const before = pin;
    await page.locator("strong.pin").filter({ hasNotText: before || "-" }).waitFor();
    pin = (await page.locator("strong.pin").innerText()).trim();
    assert.match(pin, /^\d{8}$/);
    await page.getByLabel("Security PIN").fill(pin);
    await page.getByRole("button", { name: /^Delete recovery point/ }).nth(i).click();
    for (let tries = 0; (await pageFetch(page, "GET", "/approvals")).body.approvals.length < i + 1; tries++) {
      assert.ok(tries < 100, "the request is listed");
      await page.waitForTimeout(100);
    }
    const id = (await pageFetch(page, "GET", "/approvals")).body.approvals[0].id.slice(0, 8);
    try {
      await page.locator(".notice", { hasText: `waits for the approval of gwen, the subscription's guard (request ${id}` }).waitFor();
    } catch (e) {
      throw new Error(`${e.message}\n${await page.locator("main").innerText()}`);
    }
  }
  await shot(page, SUITE, "delete-pending");
  assert.equal((await points()).filter((p) => p.deleted).length, 0, "nothing is deleted yet");

  await page.getByRole("link", { name: "Pending approvals" }).click();
  await ready("#/approvals");
  assert.match(await page.locator("#guard-line").innerText(), /The guard is gwen/);
  assert.equal(await page.locator("[data-state=pending]").count(), 2);
  assert.equal(await page.getByRole("button", { name: /^Approve request/ }).count(), 0, "the owner is not the guard");
  await shot(page, SUITE, "owner-sees-pending");
  // Nor does the API let the owner approve their own request.
  const list = (await pageFetch(page, "GET", "/approvals")).body.approvals;
  state.requests = list.map((a) => a.id);
  const r = await pageFetch(page, "POST", `/approvals/${list[0].id}/approve`, { password: PASSWORD }, { "X-CSRF-Token": state.csrf });
  assert.equal(r.status, 403);
  await signOut();
});

test("the guard refuses one request with their password: nothing happens", async () => {
  await signIn("gwen");
  await go("#/approvals");
  assert.match(await page.locator("#guard-line").innerText(), /You are the guard/);
  // The older request (the second listed) is refused.
  await page.getByLabel("Your password").fill(PASSWORD);
  await page.getByRole("button", { name: /^Refuse request/ }).nth(1).click();
  await page.getByText(/^Refused: .*Nothing was done/).waitFor();
  await shot(page, SUITE, "refused");
  assert.equal((await points()).filter((p) => p.deleted).length, 0);
  assert.equal(await page.locator("[data-state=refused]").count(), 1);
});

test("the guard enrols a second factor and approves with a code: the point is deleted", async () => {
  const begin = await pageFetch(page, "POST", "/session/totp", {}, { "X-CSRF-Token": state.csrf });
  assert.equal(begin.status, 201);
  const secret = begin.body.secret;
  const ok = await pageFetch(page, "POST", "/session/totp/confirm", { code: totp(secret, Date.now() / 1000 - 30) }, { "X-CSRF-Token": state.csrf });
  assert.equal(ok.status, 200);
  await page.reload(); // the same page, now for a guard with a second factor
  await ready("#/approvals");
  // A wrong code is refused, and nothing is deleted.
  const now = totp(secret);
  await page.getByLabel("Your one-time code").fill(now === "000000" ? "111111" : "000000");
  await page.getByRole("button", { name: /^Approve request/ }).first().click();
  await page.getByText(/code is wrong/).waitFor();
  assert.equal((await points()).filter((p) => p.deleted).length, 0);
  await page.getByLabel("Your one-time code").fill(totp(secret));
  await page.getByRole("button", { name: /^Approve request/ }).first().click();
  await page.getByText(/^Approved: .*It ran: done/).waitFor();
  await shot(page, SUITE, "approved");
  const pts = await points();
  assert.equal(pts.filter((p) => p.deleted).length, 1, "the approved deletion ran, once");
  assert.equal(await page.locator("[data-state=approved]").count(), 1);
  await go("#/audit");
  const audit = await page.locator("main").innerText();
  for (const a of ["approval.request", "approval.refuse", "approval.approve", "approval.run", "point.delete"]) {
    assert.ok(audit.includes(a), `the audit log shows ${a}`);
  }
  await signOut();
});

test("a reader sees requests without any decision, and the API refuses them", async () => {
  await signIn("rita");
  await go("#/approvals");
  assert.match(await page.locator("#guard-line").innerText(), /The guard is gwen/);
  assert.equal(await page.getByRole("button", { name: /^(Approve|Refuse) request/ }).count(), 0);
  assert.equal(await page.getByLabel("Your password").count(), 0);
  await shot(page, SUITE, "reader");
  const r = await pageFetch(page, "POST", `/approvals/${state.requests[0]}/approve`, { password: PASSWORD }, { "X-CSRF-Token": state.csrf });
  assert.equal(r.status, 403);
  assert.match(r.body.error.message, /security-admin/);
  assert.deepEqual(errors, []);
});
