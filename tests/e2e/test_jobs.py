"""Jobs reported by machines (every outcome recorded, partial jobs list what
they skipped, non-complete outcomes raise alerts) and usage per vault."""
import json

from helpers import download, make_pack, register, signed


def test_jobs_and_usage(env):
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, body, _ = register(s, creds, "server-01", mpub)
    mid = body["machine_id"]
    data, info = make_pack(tmp, n=3, size=20000)

    st, job = signed(s, mid, mkey, "POST", "/jobs", json.dumps({"kind": "backup"}).encode())
    assert st == 201 and job["status"] == "running"
    assert signed(s, mid, mkey, "PUT", "/packs/" + info["pack"], data)[0] == 201
    st, rp = signed(s, mid, mkey, "POST", "/recovery-points", json.dumps(
        {"meta": info["objects"][0], "objects": info["objects"]}).encode())
    end = {"status": "complete", "files": 3, "bytes_read": 60000, "bytes_stored": len(data),
           "recovery_point": rp["id"], "report": {"warnings": []}}
    st, body = signed(s, mid, mkey, "PATCH", "/jobs/" + job["id"], json.dumps(end).encode())
    assert st == 200
    # A job ends once.
    st, body = signed(s, mid, mkey, "PATCH", "/jobs/" + job["id"], json.dumps(end).encode())
    assert st == 404

    st, job2 = signed(s, mid, mkey, "POST", "/jobs", json.dumps({"kind": "backup"}).encode())
    st, body = signed(s, mid, mkey, "PATCH", "/jobs/" + job2["id"],
                      json.dumps({"status": "partial"}).encode())
    assert st == 400 and "skipped" in body["error"]["message"]
    partial = {"status": "partial", "files": 2,
               "report": {"skipped": [{"path": "/etc/shadow", "reason": "permission denied"}]}}
    st, body = signed(s, mid, mkey, "PATCH", "/jobs/" + job2["id"], json.dumps(partial).encode())
    assert st == 200
    st, job3 = signed(s, mid, mkey, "POST", "/jobs", json.dumps({"kind": "nap"}).encode())
    assert st == 400

    st, body, _ = s.call("GET", "/vaults/backup-vault/jobs")
    jobs = body["jobs"]
    assert [j["status"] for j in jobs] == ["partial", "complete"]
    assert jobs[0]["report"]["skipped"][0]["path"] == "/etc/shadow"
    assert jobs[1]["recovery_point"] == rp["id"] and jobs[1]["bytes_stored"] == len(data)
    assert jobs[1]["ended"] and jobs[1]["machine"] == "server-01"
    st, body, _ = s.call("GET", "/alerts")
    assert body["alerts"][0]["kind"] == "job.partial"

    st, body, _ = s.call("GET", "/vaults/backup-vault/usage")
    assert body["stored_bytes"] == len(data)
    assert body["machines"] == [{"machine": "server-01", "packs": 1, "stored_bytes": len(data),
                                 "recovery_points": 1}]


def test_alerts_follow_what_was_recorded(env):
    """A job's end that the catalog refuses (ended already, unknown, another
    machine's) records nothing, so it raises no alert either."""
    s, tmp, mkey, mpub = env
    creds = download(s, tmp)
    st, body, _ = register(s, creds, "server-01", mpub)
    mid = body["machine_id"]
    st, job = signed(s, mid, mkey, "POST", "/jobs", json.dumps({"kind": "backup"}).encode())
    failed = json.dumps({"status": "failed", "report": {"error": "disk gone"}}).encode()
    st, body = signed(s, mid, mkey, "PATCH", "/jobs/" + job["id"], failed)
    assert st == 200, body
    for jid in (job["id"], "0" * 32):
        st, body = signed(s, mid, mkey, "PATCH", "/jobs/" + jid, failed)
        assert st == 404, body
    st, body, _ = s.call("GET", "/alerts")
    assert [a["kind"] for a in body["alerts"] if a["kind"].startswith("job.")] == ["job.failed"]
    st, body, _ = s.call("GET", "/vaults/backup-vault/jobs")
    assert [j["status"] for j in body["jobs"]] == ["failed"]
