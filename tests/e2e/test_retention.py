"""Backup policies and retention end to end: the agent sets and shows its
policy, the service refuses schedules and retentions past the limits, and,
with the test clock, applies retention after every commit and on its timer,
by its own clock, never removing a machine's last recovery point."""
import json
import os
import time

import pytest

from helpers import Clock, call_pin, has_test_clock, machine_signed, pin


# Where a person shortens server-01's retention; a machine never can.
USER_ROUTE = "PUT /api/v1/vaults/backup-vault/machines/server-01/policy"
SHORT = b'{"schedule": ["09:30"], "keep_daily": 7}'




def test_policy_set_show_and_limits(world):
    a = world.register("server-01")
    p = a.run("policy", "set", "--schedule", "01:00,07:00,13:00,19:00", "--keep-daily", "7")
    assert p.returncode == 1 and "at most 3 times a day" in p.stderr, p.stderr
    p = a.run("policy", "set", "--schedule", "01:00,13:00", "--keep-daily", "200")
    assert p.returncode == 1 and "at most 366 recovery points" in p.stderr and "400" in p.stderr, p.stderr
    p = a.run("policy", "set", "--schedule", "01:00", "--keep-daily", "3")
    assert p.returncode == 1 and "below 7" in p.stderr, p.stderr
    pol = a.json("policy", "set", "--schedule", "21:00,09:30", "--days", "mon,tue,wed,thu,fri",
                 "--keep-daily", "30", "--keep-weekly", "8", "--weekly-day", "fri",
                 "--keep-monthly", "12", "--monthly-day", "last", "--keep-yearly", "2",
                 "--path", "/etc", "--exclude", "*.tmp")
    assert pol["schedule"] == ["09:30", "21:00"] and pol["monthly_day"] == "last"
    assert pol["paths"] == ["/etc"] and pol["exclude"] == ["*.tmp"]
    assert json.load(open(os.path.join(a.home, "policy.json")))["keep_weekly"] == 8
    # The portal's API sees the same policy.
    st, body, _ = world.s.call("GET", "/vaults/backup-vault/machines/server-01/policy")
    assert st == 200 and body["keep_daily"] == 30
    # A machine can never shorten retention, with or without a PIN: the
    # refusal says who can and where, and spends no PIN.
    p = a.run("policy", "set", "--schedule", "09:30", "--keep-daily", "7")
    assert p.returncode == 1 and USER_ROUTE in p.stderr and "security PIN" in p.stderr, p.stderr
    code = pin(world.s)
    st, body = machine_signed(world, a, "PUT", "/machine/policy", SHORT, {"X-Arca-PIN": code})
    assert st == 403 and body["error"]["code"] == "forbidden", body
    assert USER_ROUTE in body["error"]["message"], body
    p = a.run("policy", "set", "--schedule", "09:30", "--keep-daily", "7", "--pin", code)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert a.json("policy", "show")["keep_daily"] == 30
    # A signed-in user with the PIN shortens it, raising an alert, and the
    # agent picks the new policy up.
    st, body = call_pin(world.s, "PUT", "/vaults/backup-vault/machines/server-01/policy", None,
                        json.loads(SHORT))
    assert st == 401 and "PIN" in body["error"]["message"], body
    st, body = call_pin(world.s, "PUT", "/vaults/backup-vault/machines/server-01/policy", code,
                        json.loads(SHORT))
    assert st == 200 and body["keep_daily"] == 7 and body["keep_weekly"] == 0, body
    st, body, _ = world.s.call("GET", "/alerts")
    assert "retention.shortened" in [x["kind"] for x in body["alerts"]]
    shown = a.run("policy", "show")
    assert shown.returncode == 0 and "09:30" in shown.stdout
    assert "daily 7 days" in shown.stdout and "(null)" not in shown.stdout, shown.stdout
    assert json.load(open(os.path.join(a.home, "policy.json")))["keep_daily"] == 7
    text = a.run("policy", "preview")
    assert text.returncode == 0 and "Kept (0):" in text.stdout, text.stdout
    prev = a.json("policy", "preview")
    assert prev["keep"] == [] and prev["remove"] == []


def test_retention_by_the_service_clock(arcad_bin, world, tmp_path):
    if not has_test_clock(arcad_bin):
        pytest.skip("this build takes no test clock (the sanitizer build does)")
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    a.json("policy", "set", "--schedule", "12:00", "--keep-daily", "7")
    made = []
    day = 86400
    for d in range(10):
        clock.move(d * day, a)
        (src / "day.txt").write_text(f"day {d}\n")
        p = a.run("backup", str(src), "--json")
        assert p.returncode == 0, p.stderr
        made.append(json.loads(p.stdout)["recovery_point"])
    live = [x["id"] for x in a.json("recovery-points")["recovery_points"]]
    # Today is day 9: the points of days 3 to 9 are kept, the older ones
    # soft-deleted (restorable for 14 days).
    assert live == made[3:], (live, made)
    st, body, _ = world.s.call("GET", "/vaults/backup-vault/machines/server-01/recovery-points")
    gone = [x for x in body["recovery_points"] if x.get("deleted")]
    assert sorted(x["id"] for x in gone) == sorted(made[:3])
    st, body, _ = world.s.call("GET", "/audit")
    assert sum(1 for x in body["audit"] if x["action"] == "point.expire") == 3

    # Nearly a year later (the certificate, valid a year with no backup to
    # renew it, still holds), with no backup since: the timer expires
    # everything but the last point, which still restores.
    clock.move(360 * day, a)
    prev = a.json("policy", "preview")
    assert [x["id"] for x in prev["keep"]] == [made[-1]] and prev["keep"][0]["why"] == ["last"]
    live = [x["id"] for x in a.json("recovery-points")["recovery_points"]]
    assert live == [made[-1]]
    out = tmp_path / "out"
    a.json("restore", "latest", "--target", str(out))
    assert (out / str(src).lstrip("/") / "day.txt").read_text() == "day 9\n"


DAY = 86400
DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
POLICY_PATH = "/vaults/backup-vault/machines/server-01/policy"


def backups(clock, agent, src, days):
    """One backup on each of DAYS (offsets from today, by the service's
    clock); their recovery points."""
    made = []
    for d in days:
        clock.move(d * DAY, agent)
        (src / "day.txt").write_text(f"day {d}\n")
        p = agent.run("backup", str(src), "--json")
        assert p.returncode == 0, p.stderr
        made.append(json.loads(p.stdout)["recovery_point"])
    return made


def shortened(world):
    st, body, _ = world.s.call("GET", "/alerts")
    assert st == 200
    return [x for x in body["alerts"] if x["kind"] == "retention.shortened"]


def test_first_policy_that_expires_points_needs_a_pin(arcad_bin, world, tmp_path):
    """Without a policy nothing expires: a first policy that would remove
    existing points shortens retention like any other change."""
    if not has_test_clock(arcad_bin):
        pytest.skip("this build takes no test clock (the sanitizer build does)")
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    made = backups(clock, a, src, [0, 1, 9])
    first = {"schedule": ["12:00"], "keep_daily": 7}
    st, body = call_pin(world.s, "PUT", POLICY_PATH, None, first)
    assert st == 401 and "PIN" in body["error"]["message"], (st, body)
    p = a.run("policy", "set", "--schedule", "12:00", "--keep-daily", "7")
    assert p.returncode == 1 and USER_ROUTE in p.stderr, (p.returncode, p.stderr)
    code = pin(world.s)
    st, body = machine_signed(world, a, "PUT", "/machine/policy", json.dumps(first).encode(),
                              {"X-Arca-PIN": code}, clock.offset)
    assert st == 403 and USER_ROUTE in body["error"]["message"], (st, body)
    assert a.json("policy", "preview")["policy"] is False
    assert [x["id"] for x in a.json("recovery-points")["recovery_points"]] == made
    assert shortened(world) == []
    # A signed-in user with the PIN (the one the machine could not use).
    st, body = call_pin(world.s, "PUT", POLICY_PATH, code, first)
    assert st == 200 and body["keep_daily"] == 7, (st, body)
    assert [x["target"] for x in shortened(world)] == ["backup-vault/server-01"]
    prev = a.json("policy", "preview")
    assert sorted(x["id"] for x in prev["remove"]) == sorted(made[:2]), prev


def test_moved_anchor_needs_a_pin(arcad_bin, world, tmp_path):
    """Moving the weekly day drops the weekly points of the old day."""
    if not has_test_clock(arcad_bin):
        pytest.skip("this build takes no test clock (the sanitizer build does)")
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    src = tmp_path / "src"
    src.mkdir()
    anchor = DAYS[time.gmtime().tm_wday]
    # A first policy that removes no point needs no PIN, even from the machine.
    a.json("policy", "set", "--schedule", "12:00", "--keep-daily", "7", "--keep-weekly", "4",
           "--weekly-day", anchor)
    made = backups(clock, a, src, [0, 1, 9])
    # Day 1 has expired; day 0 is kept as the week's point.
    assert [x["id"] for x in a.json("recovery-points")["recovery_points"]] == [made[0], made[2]]
    # Keeping more needs no PIN, even from the machine.
    pol = a.json("policy", "set", "--schedule", "12:00", "--keep-daily", "7", "--keep-weekly",
                 "8", "--weekly-day", anchor)
    assert pol["keep_weekly"] == 8
    moved = {"schedule": ["12:00"], "keep_daily": 7, "keep_weekly": 8,
             "weekly_day": DAYS[(DAYS.index(anchor) + 1) % 7]}
    st, body = call_pin(world.s, "PUT", POLICY_PATH, None, moved)
    assert st == 401 and "PIN" in body["error"]["message"], (st, body)
    p = a.run("policy", "set", "--schedule", "12:00", "--keep-daily", "7", "--keep-weekly", "8",
              "--weekly-day", moved["weekly_day"])
    assert p.returncode == 1 and USER_ROUTE in p.stderr, (p.returncode, p.stderr)
    assert a.json("policy", "show")["weekly_day"] == anchor
    assert shortened(world) == []
    st, body = call_pin(world.s, "PUT", POLICY_PATH, pin(world.s), moved)
    assert st == 200 and body["weekly_day"] == moved["weekly_day"], (st, body)
    assert len(shortened(world)) == 1
    prev = a.json("policy", "preview")
    assert [x["id"] for x in prev["remove"]] == [made[0]], prev
