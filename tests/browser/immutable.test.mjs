// immutable.test.mjs: a vault's immutability in the portal, in a real
// browser: its properties page shows the state, makes the vault immutable,
// then locks it after a confirmation that says locking is forever; a locked
// vault offers no way back, the service refuses one sent from the page
// itself, and the lock is in the audit log and the alerts.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startService, startBrowser, tempDir, shot, pageFetch, pageReady, pageGo, watchErrors, ownerMakesVault } from "./harness.mjs";

const SUITE = "immutable";
const VAULT = "locked-vault";
let svc, browser, context, page;
const errors = [];

before(async () => {
  svc = await startService(tempDir());
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

test("a vault is made immutable, then locked after a confirmation that locking is forever", async () => {
  const { status, csrf } = await ownerMakesVault(page, svc.url, VAULT, "GRS");
  assert.equal(status, 201);

  const props = `#/vault/${VAULT}/properties`;
  await go(props);
  assert.match(await page.locator("#immutability").innerText(), /^Mutable/);
  await shot(page, SUITE, "mutable");
  // A refused confirmation changes nothing.
  page.once("dialog", (d) => d.dismiss());
  await page.getByRole("button", { name: "Make immutable" }).click();
  assert.equal((await pageFetch(page, "GET", `/vaults/${VAULT}`)).body.immutability, "mutable");
  page.once("dialog", (d) => d.accept());
  await page.getByRole("button", { name: "Make immutable" }).click();
  await page.locator("#immutability", { hasText: /^Immutable/ }).waitFor();
  await shot(page, SUITE, "immutable");

  let said = "";
  page.once("dialog", (d) => { said = d.message(); d.accept(); });
  await page.getByRole("button", { name: "Lock immutability" }).click();
  await page.locator("#immutability", { hasText: /^Locked/ }).waitFor();
  assert.match(said, /Locking is forever/);
  assert.match(said, /never be made mutable again/);
  await shot(page, SUITE, "locked");
  assert.equal(await page.getByRole("button", { name: /immutab/i }).count(), 0, "a locked vault offers no change");
  assert.match(await page.locator("#immutability-card").innerText(), /stays immutable for ever/);

  // The service refuses a way back sent from this page, PIN or not.
  const pin = (await pageFetch(page, "POST", "/pin", {}, { "X-CSRF-Token": csrf })).body.pin;
  const r = await pageFetch(page, "PATCH", `/vaults/${VAULT}`, { immutability: "mutable" },
    { "X-CSRF-Token": csrf, "X-Arca-PIN": pin });
  assert.equal(r.status, 409);
  assert.equal(r.body.error.code, "locked");
  assert.match(r.body.error.message, /never be made mutable again/);
  assert.equal((await pageFetch(page, "GET", `/vaults/${VAULT}`)).body.immutability, "locked");

  await go("#/alerts");
  assert.match(await page.locator("main").innerText(), /vault\.locked/);
  await go("#/audit");
  assert.match(await page.locator("main").innerText(), /vault\.immutability/);
  await shot(page, SUITE, "audit");
  assert.deepEqual(errors, []);
});
