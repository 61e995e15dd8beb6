"""Backup policies and retention end to end: the agent sets and shows its
policy, the service refuses schedules and retentions past the limits, and,
with the test clock, applies retention after every commit and on its timer,
by its own clock, never removing a machine's last recovery point."""
import json
import os

import pytest

from test_delete import pin as service_pin
from agent_helpers import World
from test_agent import free_port, rsync_diff
from test_service import Service, has_test_clock


@pytest.fixture
def world(arcad_bin, arca_bin, tmp_path):
    w = World(arcad_bin, arca_bin, tmp_path)
    yield w
    w.stop()



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
    # Shortening retention needs a security PIN from a person.
    p = a.run("policy", "set", "--schedule", "09:30", "--keep-daily", "7")
    assert p.returncode == 1 and "PIN" in p.stderr
    pol = a.json("policy", "set", "--schedule", "09:30", "--keep-daily", "7", "--pin", service_pin(world.s))
    assert pol["keep_daily"] == 7 and pol["keep_weekly"] == 0
    st, body, _ = world.s.call("GET", "/alerts")
    assert "retention.shortened" in [x["kind"] for x in body["alerts"]]
    shown = a.run("policy", "show")
    assert shown.returncode == 0 and "09:30" in shown.stdout
    assert "daily 7 days" in shown.stdout and "(null)" not in shown.stdout, shown.stdout
    text = a.run("policy", "preview")
    assert text.returncode == 0 and "Kept (0):" in text.stdout, text.stdout
    prev = a.json("policy", "preview")
    assert prev["keep"] == [] and prev["remove"] == []


class Clock:
    """A service on a fixed port whose clock the test moves; the agent's
    clock moves with it."""

    def __init__(self, arcad, world):
        self.arcad, self.w, self.port = arcad, world, free_port()
        world.s.stop()
        self.start(0)

    def start(self, offset):
        self.offset = offset
        self.w.s = Service(self.arcad, self.w.s.data, clock_offset=offset, port=self.port)
        self.w.s.sign_in()

    def move(self, offset, agent=None):
        self.w.s.stop()
        self.start(offset)
        if agent:
            agent.env = self.env()

    def env(self):
        return dict(os.environ, ARCA_TEST_CLOCK_OFFSET=str(self.offset))


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
