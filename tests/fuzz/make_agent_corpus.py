#!/usr/bin/python3
"""make_agent_corpus.py: write the seed corpora of the agent's fuzz targets
(fuzz_trees_cache, fuzz_cache_index, fuzz_kit, fuzz_agent_json, fuzz_reply)
from the formats of docs/FORMAT.md and the answers of src/service/api.c.
Deterministic (a fixed random seed), so rerunning it changes nothing.
Inputs that once crashed a target are kept beside these as regress-*.
Usage: tests/fuzz/make_agent_corpus.py"""
import base64
import hashlib
import json
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
rnd = random.Random(20261128)


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def rbytes(n):
    return bytes(rnd.getrandbits(8) for _ in range(n))


def hexid(v=None):
    return (bytes([v]) * 32).hex() if v is not None else rbytes(32).hex()


# trees.dat: "ARCATRC1", then id (32), length (u32 LE), sealed bytes (a
# sealed object is at least 53 bytes: version 1, nonce, ciphertext, tag).
def record(oid, sealed):
    return oid + struct.pack("<I", len(sealed)) + sealed


def sealed(n):
    return b"\x01" + rbytes(n - 1)


recs = [record(rbytes(32), sealed(n)) for n in (53, 61, 117, 300)]
put("trees_cache", "seed-empty", b"ARCATRC1")
put("trees_cache", "seed-records", b"ARCATRC1" + b"".join(recs))
dup = record(recs[0][:32], sealed(80))
put("trees_cache", "seed-duplicate-id", b"ARCATRC1" + recs[0] + recs[1] + dup)
put("trees_cache", "edge-torn-head", b"ARCATRC1" + recs[0] + recs[1][:20])
put("trees_cache", "edge-torn-body", b"ARCATRC1" + recs[0] + recs[1][:-7])
put("trees_cache", "edge-version-2", b"ARCATRC2" + recs[0])
put("trees_cache", "edge-wrong-magic", b"ARCAIDS1" + recs[0])
put("trees_cache", "edge-short", b"ARCAT")

# stored.ids and files.idx: the first byte picks the file (even: stored.ids).
ids = [rbytes(32) for _ in range(6)]
put("cache_index", "seed-ids", b"\x00ARCAIDS1" + b"".join(ids))
put("cache_index", "seed-ids-empty", b"\x00ARCAIDS1")
fent = lambda: struct.pack("<QQqqII", rnd.getrandbits(40), rnd.getrandbits(30),
                           1790000000 + rnd.getrandbits(20), 1790000000 + rnd.getrandbits(20),
                           rnd.randrange(10**9), rnd.randrange(10**9))
put("cache_index", "seed-fidx", b"\x01ARCAFIX1" + b"".join(hashlib.blake2b(
    b"/home/u/f%d" % i, digest_size=32).digest() + fent() for i in range(4)))
put("cache_index", "edge-ids-duplicate", b"\x00ARCAIDS1" + ids[0] + ids[1] + ids[0])
put("cache_index", "edge-ids-torn", b"\x00ARCAIDS1" + ids[0] + ids[1][:17])
put("cache_index", "edge-fidx-version-2", b"\x01ARCAFIX2" + ids[0] + fent())
put("cache_index", "edge-swapped-magic", b"\x01ARCAIDS1" + ids[0] + fent())


# A wrapped key (144 bytes): magic, version 1, kdf 1, reserved, opslimit 3,
# memlimit 64 MiB, key id, salt, nonce, sealed key, BLAKE2b-128 checksum.
def wrapped(ops=3, mem=64 << 20, version=1):
    body = (b"ARCAWKEY" + bytes([version, 1, 0, 0]) + struct.pack("<IQ", ops, mem) +
            rbytes(16) + rbytes(16) + rbytes(24) + rbytes(48))
    return body + hashlib.blake2b(body, digest_size=16).digest()


w = wrapped()
b64 = base64.b64encode(w).decode()
kit = ("arca second passphrase kit\n\nMachine: server-01\nVault:   backup-vault\n"
       "Service: https://vault.example.net:8443\n"
       "Wrapped key (opens with the second passphrase): %s\n")
put("kit", "seed-kit", kit % b64)
put("kit", "seed-raw", w)
put("kit", "seed-kit-crlf-typed", (kit % (b64[:40] + " " + b64[40:])).replace("\n", "\r\n"))
put("kit", "seed-raw-min-cost", wrapped(1, 8192))
put("kit", "edge-first-kit", "arca recovery kit\n\nPassphrase:   abcdefghijklmnopqrstuvwxyz\n"
    "Vault:        v (id)\nMachine:      m\n")
put("kit", "edge-two-lines", kit % b64 + "Wrapped key: " + b64 + "\n")
put("kit", "edge-short-key", kit % b64[:100])
put("kit", "edge-raw-truncated", w[:143])
put("kit", "edge-raw-version-2", wrapped(version=2))
put("kit", "edge-bad-base64", kit % (b64[:50] + "*" + b64[51:]))

# agent.json (first byte even) and policy.json (odd).
agent = {"service_url": "https://vault.example.net:8443", "vault_id":
         "0b6f3c1e-1111-4a4a-8b8b-123456789abc", "vault_name": "backup-vault",
         "subscription": "sub-0001", "region": "local-1", "machine_id": hexid()[:32],
         "machine_name": "server-01", "cache": "/var/cache/arca", "rate_work": 0,
         "rate_other": 0, "work_start": 9, "work_end": 17}
put("agent_json", "seed-agent", "\x00" + json.dumps(agent, indent=2))
proxied = dict(agent, proxy="http://proxy:3128", proxy_user="u", rate_work=2097152)
put("agent_json", "seed-agent-proxy", "\x00" + json.dumps(proxied))
put("agent_json", "edge-agent-missing", "\x00" + json.dumps({k: v for k, v in agent.items()
                                                               if k != "cache"}))
put("agent_json", "edge-agent-hours", "\x00" + json.dumps(dict(agent, work_start=30)))
put("agent_json", "edge-agent-duplicate", "\x00" + json.dumps(agent)[:-1] + ', "cache": "/x"}')
policy = {"schedule": ["01:30", "13:00"], "days": ["mon", "tue", "wed", "thu", "fri"],
          "keep_daily": 7, "keep_weekly": 4, "weekly_day": "sun", "keep_monthly": 12,
          "monthly_day": "last", "keep_yearly": 0, "max_points": 366, "paths": ["/home"]}
put("agent_json", "seed-policy", "\x01" + json.dumps(policy, indent=2))
put("agent_json", "seed-policy-every-day", "\x01" + json.dumps({"schedule": ["23:59"]}))
put("agent_json", "seed-policy-three", "\x01" + json.dumps(
    {"schedule": ["18:00", "00:00", "06:15"], "days": ["sun"]}))
put("agent_json", "edge-policy-overflow", "\x01" + json.dumps({"schedule": ["99999999:99"]}))

# The service's answers, to the ids fuzz_reply asks: 00.., 01.., 02.., 03.., 01..
P = hexid(0xab)
loc = lambda v, off, n: {"id": hexid(v), "pack": P, "kind": 1, "offset": off, "length": n}
put("reply", "seed-locate", "\x00" + json.dumps({"objects": [loc(0, 16, 80), loc(1, 96, 120),
                                                              loc(3, 216, 53), loc(1, 269, 60)]}))
put("reply", "seed-locate-none", "\x00" + json.dumps({"objects": []}))
put("reply", "edge-locate-out-of-order", "\x00" + json.dumps({"objects": [loc(3, 0, 60),
                                                                          loc(0, 60, 60)]}))
put("reply", "edge-locate-negative", "\x00" + json.dumps({"objects": [loc(0, -5, 60)]}))
put("reply", "seed-missing", "\x01" + json.dumps({"missing": [hexid(1), hexid(2), hexid(1)]}))
put("reply", "edge-missing-unasked", "\x01" + json.dumps({"missing": [hexid(9)]}))
point = lambda: {"id": rbytes(16).hex(), "meta": hexid(), "parent": None,
                 "created": "2026-11-28T10:00:00Z", "objects": 12, "bytes": 40960}
put("reply", "seed-points", "\x02" + json.dumps({"recovery_points": [point(), point()],
                                                 "max": 366}))
put("reply", "edge-points-no-meta", "\x02" + json.dumps({"recovery_points": [{"id": "x"}]}))
put("reply", "seed-wrapped-key", "\x03" + json.dumps({"machine": "server-01", "wrapped_key": b64}))
put("reply", "seed-key-mismatch", "\x03" + json.dumps({"code": "key_mismatch", "message":
                                                       "another key", "wrapped_key": b64}))
put("reply", "seed-register", "\x04" + json.dumps({
    "machine_id": rbytes(16).hex(), "machine_name": "server-01", "vault_id": "v",
    "vault_name": "vault", "certificate": "-----BEGIN CERTIFICATE-----\n...\n",
    "reregistered": False}))
put("reply", "edge-register-no-id", "\x04" + json.dumps({"machine_name": "server-01"}))
put("reply", "seed-error", "\x05" + json.dumps({"error": {"code": "credentials_invalid",
    "message": "Invalid vault credentials provided", "detail": "not the latest"}}))
put("reply", "edge-error-escape", "\x05" + json.dumps({"error": {"code": "x", "message":
                                                                "a\x1b[2Jb\n", "detail": "\r"}}))
put("reply", "seed-job", "\x06" + json.dumps({"id": rbytes(16).hex(), "kind": "backup"}))
put("reply", "seed-lease", "\x06" + json.dumps({"id": rbytes(16).hex(), "lease": rbytes(16).hex(),
                                                 "expires": "2026-11-28T16:00:00Z"}))
put("reply", "edge-job-path", "\x06" + json.dumps({"id": "../machine/wrapped-key"}))
