// roles.js: what the portal shows to each role. The service decides (its
// access table, docs/API.md); this mirror only hides or disables what a
// role would be refused, so that nobody is offered a button that fails.

export const ROLES = ["owner", "backup-operator", "restore-operator", "reader", "security-admin"];

const CAN = {
  owner: ["owner"],                                   // change an owner, make one
  deleteData: ["owner"],                              // delete vaults, machines, recovery points
  manage: ["owner", "backup-operator"],               // vaults, policies, undelete, collect
  credentials: ["owner", "backup-operator", "restore-operator"],
  users: ["owner", "security-admin"],                 // users, settings, PINs, tokens, audit
};

export function can(app, what) {
  return !!(app && app.who && CAN[what].includes(app.who.role));
}
