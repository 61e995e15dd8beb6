"""Immutable vaults end to end: a vault made immutable, then locked, and
every way there is to remove a recovery point early refused with the rule
that stops it (the API with a PIN, the portal's cookie session, `arcad`'s
admin commands, a policy that would shorten retention, deleting the
machine or the vault, the purge and the collector with the test clock
moved short of the retention's end), every point still restoring byte for
byte; then, past each point's retain-until time, expiry as usual."""
import json
import os

import pytest

from helpers import (PASSWORD, Clock, admin, call_pin, collect, has_test_clock, pin, run)
from test_portal import raw

DAY = 86400
VAULT = "/vaults/backup-vault"
MACHINE = VAULT + "/machines/server-01"


def points(world, deleted=False):
    st, body, _ = world.s.call("GET", MACHINE + "/recovery-points")
    assert st == 200, body
    return {p["id"]: p for p in body["recovery_points"] if bool(p.get("deleted")) == deleted}


def refused(st, body, *words):
    assert st == 409 and body["error"]["code"] == "locked", (st, body)
    for w in words:
        assert w in body["error"]["message"], (w, body)


def backup(clock, agent, src, day, seed):
    clock.move(day * DAY, agent)
    (src / "data.bin").write_bytes(os.urandom(1 << 16) + seed.encode())
    (src / "day.txt").write_text(f"{seed}\n")
    p = agent.run("backup", str(src), "--json")
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)["recovery_point"], {
        "data.bin": (src / "data.bin").read_bytes(), "day.txt": (src / "day.txt").read_bytes()}


def restores(agent, tmp_path, src, point, files):
    out = tmp_path / f"out-{point[:8]}-{os.urandom(3).hex()}"
    agent.json("restore", point, "--target", str(out))
    for name, data in files.items():
        assert (out / str(src).lstrip("/") / name).read_bytes() == data, (point, name)


def test_locked_vault_keeps_every_point_until_its_retention_ends(arcad_bin, world, tmp_path):
    if not has_test_clock(arcad_bin):
        pytest.skip("this build takes no test clock (the sanitizer build does)")
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    a.json("policy", "set", "--schedule", "12:00", "--keep-daily", "21")
    made = {}
    for d in range(3):
        pid, files = backup(clock, a, src, d, f"day {d}")
        made[pid] = files
    # A second point of day 2, deleted while the vault is still mutable
    # (allowed then), soft-deleted and retained until day 23.
    extra, _ = backup(clock, a, src, 2, "day 2, later")
    live = points(world)
    assert set(live) == set(made) | {extra}
    # Retention set every point's time: daily 21 keeps day d's point until
    # the start of day d + 21.
    for pid in live:
        assert live[pid]["retain_until"], live[pid]
    st, body = call_pin(world.s, "DELETE", f"{MACHINE}/recovery-points/{extra}", pin(world.s))
    assert st == 200, body

    # Immutable, then locked; shown in the vault's properties, audited, and
    # the lock raises an alert.
    st, body, _ = world.s.call("GET", VAULT)
    assert st == 200 and body["immutability"] == "mutable"
    st, body, _ = world.s.call("PATCH", VAULT, {"immutability": "immutable"})
    assert st == 200 and body["immutability"] == "immutable", body
    st, body, _ = world.s.call("PUT", VAULT, {"immutability": "locked"})
    assert st == 200 and body["immutability"] == "locked", body
    st, body, _ = world.s.call("GET", "/audit")
    assert [x["detail"] for x in body["audit"] if x["action"] == "vault.immutability"] == \
        ["locked", "immutable"], body
    st, body, _ = world.s.call("GET", "/alerts")
    assert "vault.locked" in [x["kind"] for x in body["alerts"]]
    st, body, _ = world.s.call("PATCH", VAULT, {"immutability": "bogus"})
    assert st == 400 and "locked" in body["error"]["message"], body

    refusals = 0
    # Never mutable again: the API (with a PIN) and the admin command.
    for state in ("mutable", "immutable"):
        st, body = call_pin(world.s, "PATCH", VAULT, pin(world.s), {"immutability": state})
        refused(st, body, "locked", "never")
        refusals += 1
    p = run([arcad_bin, "vault", "immutability", "--data", str(world.s.data), "backup-vault",
             "mutable"])
    assert p.returncode != 0 and "never be made mutable" in p.stderr, (p.returncode, p.stderr)
    refusals += 1
    assert admin(world.s, "vault", "show", "backup-vault")["immutability"] == "locked"

    first = list(made)[0]
    # The API, with a valid PIN.
    st, body = call_pin(world.s, "DELETE", f"{MACHINE}/recovery-points/{first}", pin(world.s))
    refused(st, body, "vault backup-vault is immutable", first, "retained until",
            "it can be deleted after that")
    refusals += 1
    # The portal's path: its cookie session and CSRF token.
    st, h, b = raw(world.s, "POST", "/api/v1/session",
                   {"user": "owner", "password": PASSWORD, "cookie": True})
    assert st == 201, b
    cookie = h["Set-Cookie"].split(";")[0]
    csrf = json.loads(b)["csrf"]
    code = pin(world.s)
    st, _, b = raw(world.s, "DELETE", f"/api/v1{MACHINE}/recovery-points/{first}", None,
                   {"Cookie": cookie, "X-CSRF-Token": csrf, "X-Arca-PIN": code})
    refused(st, json.loads(b), "is immutable", first)
    refusals += 1
    st, _, b = raw(world.s, "PATCH", "/api/v1" + VAULT, {"immutability": "mutable"},
                   {"Cookie": cookie, "X-CSRF-Token": csrf, "X-Arca-PIN": pin(world.s)})
    refused(st, json.loads(b), "never")
    refusals += 1
    # A policy that would expire points sooner, with the PIN; a longer one
    # is taken.
    st, body = call_pin(world.s, "PUT", MACHINE + "/policy", pin(world.s),
                        {"schedule": ["12:00"], "keep_daily": 7})
    refused(st, body, "extended, not reduced", "retained until")
    refusals += 1
    st, body = call_pin(world.s, "PUT", MACHINE + "/policy", None,
                        {"schedule": ["12:00"], "keep_daily": 30})
    assert st == 200 and body["keep_daily"] == 30, body
    # Deleting the machine, or the vault.
    st, body = call_pin(world.s, "DELETE", MACHINE, pin(world.s))
    refused(st, body, "is immutable")
    refusals += 1
    st, body, _ = world.s.call("DELETE", VAULT)
    refused(st, body, "machines")
    refusals += 1
    # The operator's commands: the vault, or a pack of its points.
    p = run([arcad_bin, "vault", "delete", "--data", str(world.s.data), "backup-vault"])
    assert p.returncode != 0 and "machines" in p.stderr, p.stderr
    refusals += 1
    packs = [x["id"] for x in admin(world.s, "pack", "list")["packs"]]
    assert packs
    for pack in packs:
        p = run([arcad_bin, "pack", "forget", "--data", str(world.s.data), pack])
        assert p.returncode != 0 and "is immutable" in p.stderr, p.stderr
        refusals += 1
    print(f"# {refusals} early removals refused")

    # Day 18: the deleted point's 14 days are over, but it is retained
    # until day 23; the restart's purge, retention and collection, and a
    # collection asked for, remove nothing, and every point restores.
    clock.move(18 * DAY, a)
    collect(world)
    assert set(points(world)) == set(made)
    assert set(points(world, deleted=True)) == {extra}
    for pid, files in made.items():
        restores(a, tmp_path, src, pid, files)
    st, body = call_pin(world.s, "DELETE", f"{MACHINE}/recovery-points/{first}", pin(world.s))
    refused(st, body, "retained until")

    # Day 24: past the deleted point's time, the purge takes it.
    clock.move(24 * DAY, a)
    assert points(world, deleted=True) == {}
    # Day 33: daily 30 ends for days 0 and 1 (their times were raised to
    # days 30 and 31); retention expires them, the newest stays, and a
    # point whose time has passed is deleted as in any vault.
    clock.move(33 * DAY, a)
    live = points(world)
    newest = list(made)[-1]
    assert set(live) == {newest}, live
    restores(a, tmp_path, src, newest, made[newest])
    st, body, _ = world.s.call("GET", "/audit")
    assert sum(1 for x in body["audit"] if x["action"] == "point.expire") == 2
    st, body = call_pin(world.s, "DELETE", f"{MACHINE}/recovery-points/{newest}", pin(world.s))
    assert st == 200, body


def test_immutable_unlocked_goes_back_with_a_pin_and_the_admin_command_locks(arcad_bin, world):
    # A deleted machine's policy preview still answers (retention reads
    # the vault of live machines only).
    world.register("server-01")
    st, body = call_pin(world.s, "DELETE", MACHINE, pin(world.s))
    assert st == 200, body
    st, body, _ = world.s.call("GET", MACHINE + "/policy/preview")
    assert st == 200 and body["keep"] == [] and body["remove"] == [], body
    st, body, _ = world.s.call("PATCH", VAULT, {})
    assert st == 400 and "immutability" in body["error"]["message"], body
    st, body, _ = world.s.call("PATCH", VAULT, {"immutability": "immutable"})
    assert st == 200 and body["immutability"] == "immutable", body
    # Back to mutable: a person with a security PIN, never without.
    st, body = call_pin(world.s, "PATCH", VAULT, None, {"immutability": "mutable"})
    assert st == 401 and "PIN" in body["error"]["message"], body
    st, body, _ = world.s.call("GET", VAULT)
    assert body["immutability"] == "immutable"
    st, body = call_pin(world.s, "PATCH", VAULT, pin(world.s), {"immutability": "mutable"})
    assert st == 200 and body["immutability"] == "mutable", body
    # The operator's command makes it immutable and locks it, and cannot
    # undo the lock either.
    out = admin(world.s, "vault", "immutability", "backup-vault", "immutable")
    assert out["immutability"] == "immutable"
    out = admin(world.s, "vault", "immutability", "backup-vault", "locked")
    assert out["immutability"] == "locked"
    for state in ("mutable", "immutable"):
        p = run([arcad_bin, "vault", "immutability", "--data", str(world.s.data), "backup-vault",
                 state])
        assert p.returncode != 0 and "never be made" in p.stderr, p.stderr
    p = run([arcad_bin, "vault", "immutability", "--data", str(world.s.data), "backup-vault",
             "frozen"])
    assert p.returncode != 0 and "locked is for ever" in p.stderr, p.stderr
    st, body, _ = world.s.call("GET", "/audit")
    assert [(x["actor"], x["detail"]) for x in body["audit"]
            if x["action"] == "vault.immutability"][:3] == \
        [("arcad admin", "locked"), ("arcad admin", "immutable"), ("owner", "mutable")], body
    st, body, _ = world.s.call("GET", "/alerts")
    assert [x["kind"] for x in body["alerts"]].count("vault.locked") == 1
