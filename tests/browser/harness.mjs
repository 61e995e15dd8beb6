// harness.mjs: what the portal's browser tests share: a real arcad serving
// HTTPS on 127.0.0.1 (a port the kernel picks) from a data folder of the
// test, Debian's Chromium driven headless by playwright-core (never a browser
// it downloads), screenshots of every page visited (each also checked for
// form controls without a label), and the agent `arca` run as a user would.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import { createHmac } from "node:crypto";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const BUILD = process.env.ARCA_BUILD || join(ROOT, "build");
export const OUT = process.env.ARCA_TEST_OUT || join(BUILD, "test-output", "browser");
export const PASSWORD = "a long test password";
export const PASSPHRASE = "correct horse battery staple 42";
const CHROMIUM = process.env.ARCA_CHROMIUM || "/usr/bin/chromium";

export function tempDir() {
  return mkdtempSync(join(tmpdir(), "arca-browser-"));
}

// Initialise a data folder in DIR and serve it over HTTPS on loopback.
export async function startService(dir) {
  const arcad = join(BUILD, "arcad");
  const data = join(dir, "data");
  writeFileSync(join(dir, "pw"), PASSWORD + "\n");
  const init = spawnSync(arcad, ["init", "--data", data, "--password-file", join(dir, "pw")], { encoding: "utf8" });
  if (init.status !== 0) throw new Error(`arcad init failed: ${init.stderr}`);
  const proc = spawn(arcad, ["serve", "--data", data, "--listen", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  proc.stderr.on("data", (d) => { stderr += d; });
  const lines = createInterface({ input: proc.stdout });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`arcad did not start: ${stderr}`)), 20000);
    lines.on("line", (l) => {
      const m = /^arcad: serving (https:\/\/127\.0\.0\.1:\d+)$/.exec(l);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    proc.on("exit", (code) => fail(new Error(`arcad exited with ${code}: ${stderr}`)));
  });
  const exited = new Promise((ok) => proc.on("exit", (code, sig) => ok({ code, sig })));
  return {
    url, data,
    // Stop the service; it must exit 0 and, under sanitizers, report nothing.
    async stop() {
      proc.kill("SIGTERM");
      const r = await Promise.race([exited, new Promise((ok) => setTimeout(() => ok(null), 20000))]);
      if (r === null) {
        proc.kill("SIGKILL");
        throw new Error("arcad did not stop on SIGTERM");
      }
      if (r.code !== 0 || /Sanitizer|runtime error/.test(stderr)) {
        throw new Error(`arcad exited with ${r.code} ${r.sig || ""}: ${stderr.slice(-3000)}`);
      }
    },
  };
}

// Headless Chromium with a fresh profile. The service's certificate comes
// from its own CA, which this throwaway profile does not know, so the
// context ignores certificate errors: the connection is still TLS, so the
// Secure cookie is exercised. No sandbox when running as root (tests only).
export async function startBrowser(timezoneId = "Asia/Kolkata") {
  const args = ["--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-extensions"];
  if (process.getuid && process.getuid() === 0) args.push("--no-sandbox");
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args });
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, acceptDownloads: true, timezoneId, locale: "en-GB",
    viewport: { width: 1280, height: 900 },
  });
  context.setDefaultTimeout(15000);
  return { browser, context };
}

// The service's JSON answer to an API call made from PAGE (so with its
// cookie), with the headers given.
export async function pageFetch(page, method, path, body, headers = {}) {
  return page.evaluate(async ([m, p, b, hd]) => {
    const r = await fetch("/api/v1" + p, {
      method: m, credentials: "same-origin",
      headers: Object.assign(b === null ? {} : { "Content-Type": "application/json" }, hd),
      body: b === null ? undefined : JSON.stringify(b),
    });
    let json = null;
    try { json = await r.json(); } catch { json = null; }
    return { status: r.status, body: json };
  }, [method, path, body === undefined ? null : body, headers]);
}

let shotSeq = 0;

// Save a screenshot of PAGE as OUT/SUITE/NN-NAME.png, after checking that
// every form control on it has a name a screen reader can say.
export async function shot(page, suite, name) {
  await page.waitForLoadState("networkidle");
  const unnamed = await page.$$eval("input:not([type=hidden]), select, textarea, button, a[href]", (els) =>
    els.filter((e) => e.offsetParent !== null || e.matches(".skip"))
      .filter((e) => {
        const label = (e.labels && e.labels.length) || e.getAttribute("aria-label") ||
          e.getAttribute("aria-labelledby") || (e.textContent || "").trim();
        return !label;
      }).map((e) => e.outerHTML.slice(0, 120)));
  if (unnamed.length) throw new Error(`controls without a label on ${name}: ${unnamed.join(" | ")}`);
  const dir = join(OUT, suite);
  if (shotSeq === 0) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  shotSeq += 1;
  await page.screenshot({ path: join(dir, `${String(shotSeq).padStart(2, "0")}-${name}.png`), fullPage: true });
}

// Run the agent with ARGS and --home HOME; returns {status, stdout, stderr}.
export function arca(home, ...args) {
  const p = spawnSync(join(BUILD, "arca"), [...args, "--home", home], { encoding: "utf8", timeout: 300000 });
  if (/Sanitizer|runtime error/.test(p.stderr || "")) throw new Error(`arca: ${p.stderr.slice(-3000)}`);
  return p;
}

// Register machine NAME with the vault credentials file CREDS, as a user of
// the Quick Start page would; the agent is installed in DIR/home-NAME.
export function register(dir, name, creds) {
  const home = join(dir, `home-${name}`);
  const pf = join(dir, `pass-${name}`);
  writeFileSync(pf, PASSPHRASE + "\n");
  rmSync(join(dir, `kit-${name}.txt`), { force: true });
  const p = arca(home, "register", "--vault-credentials", creds, "--cache", join(dir, `cache-${name}`),
    "--machine-name", name, "--passphrase-file", pf, "--passphrase-out", join(dir, `kit-${name}.txt`));
  return { home, ...p };
}

// RFC 6238 (HMAC-SHA-1, 6 digits, 30 s): what an authenticator app shows
// for the Base32 SECRET at T (seconds).
export function totp(secret, t = Date.now() / 1000) {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const ch of secret) bits += alphabet.indexOf(ch).toString(2).padStart(5, "0");
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 30)));
  const mac = createHmac("sha1", key).update(counter).digest();
  const off = mac[mac.length - 1] & 15;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, "0");
}

// Call ADD(text) for each script error of PAGE and each console error but
// the 40x answers the API is expected to give (a refused role, say).
export function watchErrors(page, add) {
  page.on("pageerror", (e) => add(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 40[0-9]/.test(m.text())) add(m.text());
  });
}

// Wait until the portal's page HASH has rendered in PAGE.
export async function pageReady(page, hash) {
  await page.waitForFunction((h) => document.getElementById("main").dataset.ready === h, hash);
}

// Open the portal at URL on page HASH, and wait until it has rendered.
export async function pageGo(page, url, hash) {
  await page.goto(url + "/" + hash);
  await pageReady(page, hash);
}

// Sign in to the portal at URL as the owner, then make vault NAME (in
// local-1, REDUNDANCY) through the API as the page would: the status of
// that request and the session's CSRF token.
export async function ownerMakesVault(page, url, name, redundancy) {
  await page.goto(url + "/");
  await pageReady(page, "#/signin");
  await page.getByLabel("Password").fill(PASSWORD);
  await page.keyboard.press("Enter");
  await pageReady(page, "#/vaults");
  const { csrf } = (await pageFetch(page, "GET", "/session")).body;
  const { status } = await pageFetch(page, "POST", "/vaults", { name, region: "local-1", redundancy },
    { "X-CSRF-Token": csrf });
  return { status, csrf };
}
