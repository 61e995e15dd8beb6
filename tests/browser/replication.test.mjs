// replication.test.mjs: a GRS vault's replication to its paired region on
// the vault's properties page, in a real browser: while the paired region's
// store cannot take a pack, the page says how many packs (and bytes) wait,
// how old the oldest is, and the last error; once the store can again, the
// replicator catches up and the page says "Up to date".

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { startService, startBrowser, tempDir, shot, pageFetch, arca, register, BUILD, pageReady, pageGo, watchErrors, ownerMakesVault } from "./harness.mjs";

const SUITE = "replication";
const VAULT = "geo-vault";
let svc, browser, context, page, dir, pairPacks;
const errors = [];

// The paired region's packs folder (empty) made immutable: no fan-out
// folder can be made in it, whoever the service runs as; reads still work.
function chattr(flag) {
  const p = spawnSync("chattr", [flag, pairPacks], { encoding: "utf8" });
  assert.equal(p.status, 0, p.stderr);
}

before(async () => {
  dir = tempDir();
  svc = await startService(dir);
  pairPacks = join(svc.data, "store", "local-2", "packs");
  ({ browser, context } = await startBrowser());
  page = await context.newPage();
  watchErrors(page, (t) => errors.push(t));
});

after(async () => {
  if (pairPacks) spawnSync("chattr", ["-i", pairPacks]);
  if (browser) await browser.close();
  if (svc) await svc.stop();
});

async function ready(hash) {
  await pageReady(page, hash);
}

async function go(hash) {
  await pageGo(page, svc.url, hash);
}

// The properties page read afresh (the same hash again loads nothing).
async function reload(hash) {
  await page.reload();
  await ready(hash);
}

test("the vault page shows the packs waiting for the paired region, the lag and the last error, then up to date", async () => {
  const { status, csrf } = await ownerMakesVault(page, svc.url, VAULT, "GRS");
  assert.equal(status, 201);
  const props = `#/vault/${VAULT}/properties`;
  await go(props);
  assert.equal(await page.locator("#replication").innerText(), "Up to date");

  // A machine backs up while the pair cannot take its packs.
  const creds = join(dir, "geo.VaultCredentials");
  const c = spawnSync(join(BUILD, "arcad"), ["vault", "credentials", "--data", svc.data, VAULT, "-o", creds,
    "--url", svc.url], { encoding: "utf8" });
  assert.equal(c.status, 0, c.stderr);
  const r = register(dir, "geo-01", creds);
  assert.equal(r.status, 0, r.stderr);
  const src = join(dir, "src");
  mkdirSync(src, { recursive: true });
  for (let i = 0; i < 3; i++) writeFileSync(join(src, `f${i}`), randomBytes(400000));
  assert.deepEqual(readdirSync(pairPacks), []);
  chattr("+i");
  const b = arca(r.home, "backup", src);
  assert.equal(b.status, 0, b.stderr);

  // Waiting, with the error the replicator met, and a lag that grows.
  let text = "";
  for (let i = 0; i < 60 && !/last error/.test(text); i++) {
    await new Promise((ok) => setTimeout(ok, 500));
    await reload(props);
    text = await page.locator("#replication").innerText();
  }
  assert.match(text, /^1 pack \([0-9.]+ (KiB|MiB)\) waiting, oldest [0-9]+ s, last error: copying to region local-2: /);
  await shot(page, SUITE, "waiting");

  // Mended: the replicator catches up (its back-off is seconds after a few tries).
  chattr("-i");
  for (let i = 0; i < 120 && text !== "Up to date"; i++) {
    await new Promise((ok) => setTimeout(ok, 500));
    await reload(props);
    text = await page.locator("#replication").innerText();
  }
  assert.equal(text, "Up to date");
  assert.equal(readdirSync(pairPacks).length, 1, "the pack's fan-out folder in the pair");
  await shot(page, SUITE, "up-to-date");

  // An LRS vault has no replication to show.
  assert.equal((await pageFetch(page, "POST", "/vaults", { name: "lrs-vault", region: "local-1", redundancy: "LRS" },
    { "X-CSRF-Token": csrf })).status, 201);
  await go("#/vault/lrs-vault/properties");
  assert.equal(await page.locator("#replication").count(), 0);
  assert.deepEqual(errors, []);
});
