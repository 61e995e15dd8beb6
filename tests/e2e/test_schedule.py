"""The resident agent (`arca agent`) keeps the machine's schedule across a
service restart and a network outage, and a backup it could not make before
the next one was due is reported as missed (test clock builds: the agent's
and the service's clocks are moved so a scheduled time comes in seconds)."""
import signal
import subprocess
import time

import pytest

from helpers import Clock, cert_end


@pytest.fixture
def world(clock_world):
    return clock_world


def jobs(world):
    st, body, _ = world.s.call("GET", "/vaults/backup-vault/jobs")
    assert st == 200
    return body["jobs"]


def wait_for(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def hhmm(t):
    return time.strftime("%H:%M", time.gmtime(t))


def test_schedule_outage_restart_and_missed(world, arcad_bin, tmp_path):
    # Move both clocks so that the next whole minute is 12 s away.
    real = time.time()
    target = (int(real) // 60 + 1) * 60 + 60  # a minute boundary in the future
    offset = target - 12 - int(real)
    clock = Clock(arcad_bin, world)
    clock.move(offset)
    a = world.register("server-01")
    a.env = clock.env()
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("scheduled\n")
    t1, t2 = target, target + 60
    a.json("policy", "set", "--schedule", f"{hhmm(t1)},{hhmm(t2)}", "--keep-daily", "7",
           "--path", str(src))
    log = open(tmp_path / "agent.log", "w")
    env = dict(clock.env(), ARCA_TEST_BACKOFF="2")
    agent = subprocess.Popen([a.arca, "agent", "--home", a.home], stderr=log, env=env)
    try:
        # The service goes away before the first scheduled time and comes
        # back only after the second: the first is missed, the second made
        # once the service answers again.
        time.sleep(6)
        world.s.stop()
        time.sleep(max(0, (t2 - offset) - time.time()) + 8)
        clock.start(offset)
        done = wait_for(lambda: [j for j in jobs(world) if j["status"] == "complete"], 60,
                        "the backup after the outage")
        missed = wait_for(lambda: [j for j in jobs(world) if j["status"] == "missed"], 30,
                          "the missed backup's report")
        assert len(done) == 1 and len(missed) == 1, jobs(world)
        rep = missed[0]["report"]
        rep = rep if isinstance(rep, dict) else __import__("json").loads(rep)
        assert rep["scheduled"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t1))
        st, body, _ = world.s.call("GET", "/alerts")
        assert "backup.missed" in [x["kind"] for x in body["alerts"]]
        pts = a.json("recovery-points")["recovery_points"]
        assert len(pts) == 1
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(timeout=30)
        log.close()
    text = (tmp_path / "agent.log").read_text()
    print(text)
    assert "was missed" in text and "retrying in" in text and "stopped" in text
    assert agent.returncode == 0


def test_silence_is_noticed(world, arcad_bin, tmp_path):
    """No agent at all: the service itself raises backup.missed for a
    scheduled time that passed an hour ago without a backup, once."""
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    now = int(time.time())
    slot = (now // 60 + 2) * 60
    a.json("policy", "set", "--schedule", hhmm(slot), "--keep-daily", "7", "--path", str(tmp_path))
    for _ in range(2):
        clock.move(slot - now + 2 * 3600, a)  # two hours after the slot; the timer runs at start
        st, body, _ = world.s.call("GET", "/alerts")
        missed = [x for x in body["alerts"] if x["kind"] == "backup.missed"]
        assert len(missed) == 1, body["alerts"]
    assert "server-01" in missed[0]["message"] and "agent running" in missed[0]["message"]
    # A machine that backs up at its time raises nothing.
    clock.move(0)
    b = world.register("server-02")
    b.json("policy", "set", "--schedule", hhmm(slot), "--keep-daily", "7", "--path", str(tmp_path))
    clock.move(slot - now + 30, b)
    (tmp_path / "to-back-up").mkdir()
    b.json("backup", str(tmp_path / "to-back-up"))
    clock.move(slot - now + 2 * 3600, b)
    st, body, _ = world.s.call("GET", "/alerts")
    assert not [x for x in body["alerts"] if x["kind"] == "backup.missed" and x["target"] == "server-02"]


def test_the_agent_renews_its_certificate(world, arcad_bin, tmp_path):
    """A backup in the certificate's last 30 days renews it for a year, so a
    machine that keeps backing up never expires; one that stays away past
    the end is refused and told to register again."""
    day = 86400
    clock = Clock(arcad_bin, world)
    a = world.register("server-01")
    b = world.register("server-02")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_text("renew me\n")
    pem = f"{a.home}/machine.pem"
    first = cert_end(pem)
    clock.move(200 * day, a)
    assert a.json("backup", str(src))["status"] == "complete"
    assert cert_end(pem) == first  # not due: nothing asked
    clock.move(340 * day, a)
    assert a.json("backup", str(src))["status"] == "complete"
    assert abs(cert_end(pem) - (time.time() + 340 * day + 365 * day)) < 600
    clock.move(400 * day, a)
    assert a.json("backup", str(src))["status"] == "complete"
    b.env = clock.env()
    p = b.run("backup", str(src))
    assert p.returncode != 0 and "register it again" in p.stderr, p.stderr
