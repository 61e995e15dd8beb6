// roles.test.mjs: users and roles in a real browser. The owner invites a
// reader on the Users page (the one-time code shown once), the reader sets
// a password with it, sees a role-limited portal (no Users menu, no delete
// or create buttons, credentials disabled) and the API refuses them anyway;
// the reader enrols a second factor on their account page and then signs
// in with a code; the owner changes the reader's role and disables them.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startService, startBrowser, tempDir, shot, pageFetch, PASSWORD, pageReady, pageGo, totp } from "./harness.mjs";

const SUITE = "roles";
const VAULT = "role-vault";
const READER_PASSWORD = "the reader's long password";
let dir, svc, browser, context, page;
const state = {};

before(async () => {
  dir = tempDir();
  svc = await startService(dir);
  ({ browser, context } = await startBrowser());
  page = await context.newPage();
  page.on("pageerror", (e) => { state.pageErrors = (state.pageErrors || []).concat(String(e)); });
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 40[0-9]/.test(m.text())) state.consoleErrors = (state.consoleErrors || []).concat(m.text());
  });
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


async function signIn(user, password) {
  await page.goto(svc.url + "/");
  await ready("#/signin");
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function signOut() {
  await page.getByRole("button", { name: "Sign out" }).click();
  await ready("#/signin");
}

test("the owner invites a reader on the Users page; the code is shown once", async () => {
  await signIn("owner", PASSWORD);
  await ready("#/vaults");
  const { csrf } = (await pageFetch(page, "GET", "/session")).body;
  state.ownerCsrf = csrf;
  assert.equal((await pageFetch(page, "POST", "/vaults", { name: VAULT, region: "local-1" }, { "X-CSRF-Token": csrf })).status, 201);
  await page.getByRole("link", { name: "Users" }).click();
  await ready("#/users");
  await page.getByLabel("User name").fill("rita");
  await page.locator("#invite-role").selectOption("reader");
  await page.getByRole("button", { name: "Invite" }).click();
  state.code = (await page.locator("#one-time-code").innerText()).trim();
  assert.match(state.code, /^[A-Z2-7]{24}$/);
  await page.getByRole("cell", { name: "rita", exact: true }).waitFor();
  assert.match(await page.locator("table").innerText(), /waits for its one-time code/);
  assert.doesNotMatch(await page.locator("table").innerText(), new RegExp(state.code));
  await shot(page, SUITE, "users-invited");
  await signOut();
});

test("the invitee sets a password with the code, once", async () => {
  await page.getByRole("link", { name: "Set your password with a one-time code" }).click();
  await ready("#/invitation");
  await page.getByLabel("User name").fill("rita");
  await page.getByLabel("One-time code").fill(state.code);
  await page.getByLabel("New password").fill(READER_PASSWORD);
  await page.getByRole("button", { name: "Set password" }).click();
  await page.getByText("Your password is set").waitFor();
  await shot(page, SUITE, "invitation-accepted");
  await page.getByLabel("One-time code").fill(state.code);
  await page.getByLabel("New password").fill("yet another long password");
  await page.getByRole("button", { name: "Set password" }).click();
  await page.getByText("used already or expired").waitFor();
});

test("a reader sees no Users menu, no create or delete buttons, and the API refuses them", async () => {
  await signIn("rita", READER_PASSWORD);
  await ready("#/vaults");
  assert.match(await page.locator("#who-name").innerText(), /rita \(reader\)/);
  assert.equal(await page.getByRole("link", { name: "Users" }).isVisible(), false);
  assert.equal(await page.getByRole("link", { name: "Audit log" }).isVisible(), false);
  assert.equal(await page.getByRole("link", { name: "Create a vault" }).count(), 0);
  await shot(page, SUITE, "reader-vaults");
  await go(`#/vault/${VAULT}/properties`);
  assert.equal(await page.getByRole("button", { name: "Delete vault" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Save redundancy" }).count(), 0);
  await shot(page, SUITE, "reader-vault-properties");
  await go(`#/vault/${VAULT}`);
  assert.equal(await page.locator("#download-credentials").isDisabled(), true);
  // The API refuses what the page does not offer, naming the role needed.
  const { csrf } = (await pageFetch(page, "GET", "/session")).body;
  let r = await pageFetch(page, "DELETE", `/vaults/${VAULT}`, undefined, { "X-CSRF-Token": csrf });
  assert.equal(r.status, 403);
  assert.equal(r.body.error.code, "denied");
  assert.match(r.body.error.message, /needs the role owner; rita acts as reader/);
  r = await pageFetch(page, "POST", `/vaults/${VAULT}/credentials`, undefined, { "X-CSRF-Token": csrf });
  assert.equal(r.status, 403);
  r = await pageFetch(page, "GET", "/users");
  assert.equal(r.status, 403);
  await go("#/users");
  await page.getByText("needs the role owner or security-admin").waitFor();
  await shot(page, SUITE, "reader-users-refused");
});

test("the reader enrols a second factor and then signs in with a code", async () => {
  await page.getByRole("link", { name: "My account" }).click();
  await ready("#/account");
  await page.getByRole("button", { name: "Set up a second factor" }).click();
  const secret = (await page.locator("#totp-secret").innerText()).trim();
  assert.match(await page.locator("#totp-uri").innerText(), /^otpauth:\/\/totp\//);
  await page.getByLabel("Code").fill(totp(secret));
  await shot(page, SUITE, "totp-enrol");
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.getByText("Your second factor is enrolled").waitFor();
  await signOut();
  // The password alone: the page asks for the code. The enrolment's code is
  // spent, so wait for the next one.
  await signIn("rita", READER_PASSWORD);
  await page.getByLabel("One-time code").waitFor();
  await shot(page, SUITE, "sign-in-code");
  await page.waitForTimeout((30 - (Date.now() / 1000) % 30 + 0.5) * 1000);
  await page.getByLabel("One-time code").fill(totp(secret));
  await page.getByRole("button", { name: "Sign in" }).click();
  await ready("#/vaults");
  await signOut();
});

test("the owner changes the reader's role and disables them", async () => {
  await signIn("owner", PASSWORD);
  await ready("#/vaults");
  await go("#/users");
  await page.getByLabel("Role of rita").selectOption("backup-operator");
  await page.getByText("rita is now backup-operator.").waitFor();
  // The last owner cannot be demoted: the page says why.
  await page.getByLabel("Role of owner").selectOption("reader");
  await page.getByText("last owner").waitFor();
  await page.getByRole("button", { name: "Disable rita" }).click();
  await page.getByText("rita was disabled.").waitFor();
  await shot(page, SUITE, "users-changed");
  const users = (await pageFetch(page, "GET", "/users")).body.users;
  const rita = users.find((u) => u.name === "rita");
  assert.equal(rita.role, "backup-operator");
  assert.equal(rita.disabled, true);
  assert.equal(rita.totp, true);
});

test("no page logged a script error or a CSP violation", () => {
  assert.deepEqual(state.pageErrors || [], []);
  assert.deepEqual(state.consoleErrors || [], []);
});
