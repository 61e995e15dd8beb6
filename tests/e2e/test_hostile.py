"""A hostile service (docs/THREAT-MODEL.md, "A hostile service"): a relay
between the agent and the real service alters, swaps, replays, truncates
or inflates its answers at random (seeded; ARCA_SEED replays a run). The
agent must never write a byte other than what it backed up, never write
outside the restore target, and never let an answer take its memory: each
file it writes is the file of the point it names, the rest are named as
failed or the whole restore is refused with a message."""
import json
import os
import shutil
import subprocess
import time

import pytest

from faults import rounds, seeded
from helpers import Relay

pytestmark = pytest.mark.fault

ROUNDS = rounds(40)  # restores attacked; backups: a tenth of that
MEMORY_MAX = 512 << 20  # what the agent may hold at its peak, whatever it is sent


# ---- The hostile double ----


def route(method, path):
    """The kind of answer a request gets, for pooling answers to swap."""
    if method == "GET" and path.startswith("/api/v1/packs/"):
        return "range"
    if path.startswith("/api/v1/objects/locate"):
        return "locate"
    if path.startswith("/api/v1/objects/missing"):
        return "missing"
    if method == "GET" and path.endswith("/recovery-points"):
        return "points"
    if method == "GET" and "/machines/" in path:
        return "machine"
    if path.startswith("/api/v1/jobs"):
        return "jobs"
    return "other:" + method + path.split("?")[0].rsplit("/", 1)[0]


def big_json(kind, size):
    """A valid JSON answer of about SIZE bytes: a huge array where the
    agent expects its list."""
    key = {"points": "recovery_points", "locate": "objects", "missing": "missing"}.get(kind, "x")
    n = size // 3
    return b'{"' + key.encode() + b'":[' + b"{}," * n + b"{}]}"


def deep_json(kind, depth):
    key = {"points": "recovery_points", "locate": "objects", "missing": "missing"}.get(kind, "x")
    return b'{"' + key.encode() + b'":' + b"[" * depth + b"]" * depth + b"}"


class Hostile:
    """Answers as the service, but with probability P each answer is
    replaced by a hostile one. Every honest answer is pooled by route (for
    swaps: another object's, pack's, point's or machine's) and the first
    answer to each request is kept (for replays: an older answer)."""

    JSON_ROUTES = ("locate", "points", "machine", "missing", "jobs")

    def __init__(self, rng):
        self.rng, self.p, self.focus = rng, 0.0, None
        self.pool, self.first = {}, {}
        self.served = 0
        self.kinds = {}

    def json_edit(self, kind, data):
        """A well-formed answer that lies: what a service that knows the
        API, not the keys, can do."""
        rng = self.rng
        try:
            j = json.loads(data)
        except ValueError:
            return None
        if kind == "locate" and j.get("objects"):
            objs = j["objects"]
            o = rng.choice(objs)
            how = rng.randrange(6)
            if how == 0:  # another place in the same pack
                o["offset"] = max(0, o["offset"] + rng.choice([-1, 1, 16, -o["offset"]]))
            elif how == 1:
                o["length"] = rng.choice([o["length"] - 1, o["length"] + 1, 53, 2**32 - 1,
                                          o["length"] * 2])
            elif how == 2 and len(objs) > 1:  # two objects' places swapped
                p = rng.choice(objs)
                for k in ("pack", "offset", "length"):
                    o[k], p[k] = p[k], o[k]
            elif how == 3:
                o["pack"] = rng.choice(["0" * 64, "../" * 20, o["pack"][::-1]])
            elif how == 4:
                objs.remove(o)  # withheld
            else:
                objs.append(dict(o))  # twice
        elif kind == "points" and j.get("recovery_points"):
            pts = j["recovery_points"]
            how = rng.randrange(5)
            if how == 0:
                pts.pop()  # a rollback: the newest point withheld
            elif how == 1 and len(pts) > 1:
                pts[0]["meta"], pts[-1]["meta"] = pts[-1]["meta"], pts[0]["meta"]
            elif how == 2:
                rng.choice(pts)["id"] = rng.choice(["../../../etc", "a/b", "x" * 500, "\x1b[2J"])
            elif how == 3:
                rng.choice(pts)["meta"] = "ab" * 32
            else:
                pts.reverse()
        elif kind == "machine" and "wrapped_key" in j:
            b = bytearray(j["wrapped_key"].encode())
            b[rng.randrange(len(b))] ^= 1
            j["wrapped_key"] = b.decode(errors="replace")
        else:
            return None
        return json.dumps(j).encode()

    def mutate(self, kind, key, data):
        """A hostile answer for DATA: (how, status, body), or (how, None, None)
        for the ways respond() writes itself (endless, length)."""
        rng = self.rng
        hows = ["flip", "truncate", "swap", "replay", "huge", "endless", "length", "status"]
        if kind in self.JSON_ROUTES:
            hows += ["edit", "edit", "deep", "bigjson"]
        how = rng.choice(hows)
        if how == "flip" and data:
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
            return how, 200 if kind != "range" else 206, bytes(b)
        if how == "truncate" and data:
            return how, 206 if kind == "range" else 200, data[:rng.randrange(len(data))]
        if how == "swap":
            others = [d for d in self.pool.get(kind, []) if d != data]
            if others:
                return how, 206 if kind == "range" else 200, rng.choice(others)
        if how == "replay" and self.first.get(key) not in (None, data):
            return how, 206 if kind == "range" else 200, self.first[key]
        if how == "huge":
            extra = os.urandom(rng.choice([1 << 20, 6 << 20]))
            return how, 206 if kind == "range" else 200, data + extra
        if how in ("endless", "length"):
            return how, None, None
        if how == "status":
            return how, rng.choice([200, 206, 404, 500, 503]), data
        if how == "edit":
            edited = self.json_edit(kind, data)
            if edited is not None:
                return how, 200, edited
        if how == "deep":
            return how, 200, deep_json(kind, rng.choice([3000, 200000]))
        if how == "bigjson":
            # Just under the agent's cap (2 MiB: parsed), and over it.
            return how, 200, big_json(kind, rng.choice([(2 << 20) - 100, 3 << 20, 24 << 20]))
        b = bytearray(data or b"{}")  # the chosen way did not apply: flip a byte
        b[rng.randrange(len(b))] ^= 0x20
        return "flip", 200, bytes(b)

    def respond(self, h, method, path, headers, status, data, answer_headers):
        kind = route(method, path)
        key = (method, path, headers.get("Range"))
        if 200 <= status < 300:
            pool = self.pool.setdefault(kind, [])
            if len(pool) < 400 and len(data) < (8 << 20):
                pool.append(data)
            self.first.setdefault(key, data)
        if (self.focus and kind != self.focus) or self.rng.random() >= self.p:
            return False
        how, st, body = self.mutate(kind, key, data)
        self.served += 1
        self.kinds[how] = self.kinds.get(how, 0) + 1
        ctype = "application/octet-stream" if kind == "range" else "application/json"
        try:
            if how == "endless":  # a stream that never ends (until the agent hangs up)
                h.close_connection = True
                h.send_response(206 if kind == "range" else 200)
                h.send_header("Content-Type", ctype)
                h.send_header("Transfer-Encoding", "chunked")
                h.end_headers()
                block = os.urandom(64 << 10)
                for _ in range(4096):  # 256 MiB at most, whoever reads it
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(block), block))
                return True
            if how == "length":  # a huge declared length, a little sent, then cut
                h.close_connection = True
                h.send_response(206 if kind == "range" else 200)
                h.send_header("Content-Type", ctype)
                h.send_header("Content-Length", str(10**12))
                h.end_headers()
                h.wfile.write(data + os.urandom(256 << 10))
                return True
            h.send_response(st)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
        return True


# ---- What the agent wrote ----


def snapshot_tree(root):
    """{relative path: ("f", bytes) | ("l", target) | ("d", None)} of ROOT."""
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = ("l", os.readlink(p))
            elif os.path.isdir(p):
                out[rel] = ("d", None)
            else:
                with open(p, "rb") as f:
                    out[rel] = ("f", f.read())
    return out


def files_of(tree):
    return {k: v for k, v in tree.items() if v[0] != "d"}


def explain(states, target, wrong):
    """For a wrong file: its size, and how it compares with each point's."""
    out = []
    for rel in wrong:
        got = open(os.path.join(target, rel), "rb").read()
        for pid, s in states.items():
            want = s.get(rel, ("?", b""))[1] or b""
            first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                         min(len(got), len(want)))
            out.append((rel, pid, len(got), len(want), first))
    return out


def listing(root, skip):
    """Every path under ROOT but those under SKIP: folders, and files with
    their size and modification time."""
    out = {}
    for d, dirs, files in os.walk(root):
        dirs[:] = [x for x in dirs if os.path.join(d, x) not in skip]
        for n in dirs:
            out[os.path.join(d, n)] = "folder"
        for n in files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def run_measured(agent, *args, timeout=300):
    """Run the agent; (exit code, stdout, stderr, peak RSS in bytes) of
    that process alone (wait4's usage is the child's own)."""
    out, err = agent.tmpfile("out"), agent.tmpfile("err")
    with open(out, "w+") as fo, open(err, "w+") as fe:
        p = subprocess.Popen([agent.arca, *args, "--home", agent.home], stdout=fo, stderr=fe,
                             text=True, env=agent.env)
        end = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > end:
                p.kill()
                raise AssertionError(f"the agent did not finish {args} in {timeout} s")
            time.sleep(0.02)
        p.returncode = os.waitstatus_to_exitcode(status)
        fo.seek(0)
        fe.seek(0)
        o, e = fo.read(), fe.read()
    assert "Sanitizer" not in e and "runtime error" not in e, e[-4000:]
    return p.returncode, o, e, usage.ru_maxrss * 1024


def point_to(agent, url):
    conf_path = os.path.join(agent.home, "agent.json")
    conf = json.load(open(conf_path))
    conf["service_url"] = url
    with open(conf_path, "w") as f:
        json.dump(conf, f)


def fresh_cache(agent):
    """No tree from the local cache: every object comes through the relay."""
    shutil.rmtree(agent.cache)
    os.mkdir(agent.cache)


def make_source(root, rng, n):
    root.mkdir(parents=True)
    (root / "big.bin").write_bytes(rng.randbytes(3 << 20))
    (root / "sub" / "deeper").mkdir(parents=True)
    for i in range(n):
        (root / "sub" / f"small-{i}.txt").write_bytes(rng.randbytes(rng.randrange(1, 40000)))
    (root / "sub" / "deeper" / "note.txt").write_text("a note\n" * 200)
    os.symlink("../big.bin", root / "sub" / "link-to-big")


def check_round(src_states, target, code, out, err, label):
    """What a restore under attack may have done: (wrong files, files
    neither restored nor named as failed). The files written must all be
    one point's: the one the agent names, or, when the service passed
    another of this machine's points off under that id (a rollback in
    disguise, which the agent cannot tell), that other point's."""
    # 6: the passphrase does not open the (altered) wrapped key of another
    # machine, which is all the agent can tell of it.
    assert code in (0, 1, 5, 6), (label, code, out[-2000:], err[-2000:])
    if code in (1, 6):
        assert err.strip() or out.strip(), (label, "a refusal says why")
    report = None
    if code in (0, 5):
        report = json.loads(out.strip().splitlines()[-1])
    got = snapshot_tree(target) if os.path.exists(target) else {}
    files = {rel: v for rel, v in got.items() if v[0] != "d"}
    failed = {f["path"].lstrip("/") for f in report["failed"]} if report else set()

    def judge(state):
        wrong = [rel for rel, v in files.items() if state.get(rel) != v]
        unnamed = [rel for rel, v in state.items()
                   if report and v[0] == "f" and rel not in got
                   and not any(rel == f or rel.startswith(f + "/") for f in failed)]
        return wrong, unnamed

    named = src_states.get(report["recovery_point"]) if report else None
    order = ([named] if named is not None else []) + [
        x for x in src_states.values() if x is not named]
    results = [judge(state) for state in order]
    for wrong, unnamed in results:
        if not wrong and not unnamed:
            return [], []
    return results[0]


def test_a_hostile_service_cannot_make_the_agent_write_wrong_bytes(world, tmp_path):
    rng = seeded("hostile")
    a = world.register("server-01")
    b = world.register("laptop")
    logs = tmp_path / "logs"
    logs.mkdir()
    for ag in (a, b):
        ag.tmpfile = (lambda ag: lambda n: str(logs / f"{os.path.basename(ag.home)}.{n}"))(ag)

    src = tmp_path / "src"
    make_source(src, rng, 12)
    states = {}
    r1 = a.json("backup", str(src))
    prefix = str(src).lstrip("/")

    def state_of(root):
        return {os.path.join(prefix, k): v for k, v in snapshot_tree(root).items()}

    states[r1["recovery_point"]] = state_of(src)
    other = tmp_path / "other-src"
    make_source(other, rng, 5)
    b.json("backup", str(other))

    hostile = Hostile(rng)
    relay = Relay(world.s, respond=hostile.respond)
    relay.server.handle_error = lambda *args: None  # the agent hangs up on what it refuses
    try:
        point_to(a, relay.url)
        point_to(b, relay.url)
        # Honest answers fill the pools: another machine's, and those of a
        # time when the first point was the latest (to replay: a rollback).
        fresh_cache(b)
        code, out, err, _ = run_measured(b, "restore", "latest", "--target",
                                         str(tmp_path / "honest-b"), "--json")
        assert code == 0, err
        peak_honest = 0

        def honest(pid, name):
            fresh_cache(a)
            t = tmp_path / f"honest-{name}"
            code, out, err, peak = run_measured(a, "restore", pid, "--target", str(t), "--json")
            assert code == 0, err
            assert files_of(snapshot_tree(t)) == files_of(states[json.loads(out)["recovery_point"]])
            return peak

        peak_honest = honest("latest", "1")
        (src / "big.bin").write_bytes(rng.randbytes(3 << 20))  # the second point differs
        (src / "sub" / "small-0.txt").write_text("changed\n")
        (src / "sub" / "new.txt").write_text("new in point 2\n")
        r2 = a.json("backup", str(src))
        states[r2["recovery_point"]] = state_of(src)
        peak_honest = max(peak_honest, honest("latest", "2"), honest(r1["recovery_point"], "3"))

        wrong_total, outside_total, peak_all, codes = 0, 0, 0, {}
        watched = [str(world.s.data), a.home, a.cache, b.home, b.cache, str(logs)]
        for rnd in range(ROUNDS):
            hostile.p = rng.choice([0.1, 0.25, 0.5, 0.8])
            # Half the rounds alter one kind of answer only, so that the
            # restore gets further and more of that kind are altered.
            hostile.focus = rng.choice([None, None, None, "range", "locate", "points"])
            fresh_cache(a)
            fresh_cache(b)
            room = tmp_path / f"round-{rnd}"
            target = room / "target"
            (room / "outside").mkdir(parents=True)
            (room / "outside" / "canary").write_text("canary\n")
            before = listing(str(tmp_path), set(watched) | {str(target)})
            which = rng.choice(["latest", r1["recovery_point"], r2["recovery_point"], "path",
                                "elsewhere"])
            args = ["restore", which if which in states else "latest", "--target", str(target),
                    "--json"]
            if which == "path":
                args.insert(2, str(src / "sub"))
            if which == "elsewhere":  # the laptop restores server-01's: its wrapped key too
                hostile.focus = rng.choice([None, "machine"])
                args += ["--from-machine", "server-01", "--passphrase-file", str(a.passfile)]
            code, out, err, peak = run_measured(b if which == "elsewhere" else a, *args)
            hostile.p, hostile.focus = 0.0, None
            codes[code] = codes.get(code, 0) + 1
            peak_all = max(peak_all, peak)
            sel = states
            if which == "path":
                sel = {k: {p: v for p, v in s.items()
                           if p == os.path.join(prefix, "sub") or p.startswith(
                               os.path.join(prefix, "sub") + "/")}
                       for k, s in states.items()}
            wrong, unnamed = check_round(sel, str(target), code, out, err, f"round {rnd}")
            assert not unnamed, (rnd, unnamed, out[-3000:])
            wrong_total += sum(os.path.getsize(os.path.join(target, w)) for w in wrong)
            after = listing(str(tmp_path), set(watched) | {str(target)})
            changed = {p for p in set(before) | set(after) if before.get(p) != after.get(p)}
            outside_total += len(changed)
            assert not wrong, (rnd, which, wrong, explain(states, str(target), wrong),
                               out[-1500:], err[-1500:], hostile.kinds)
            assert not changed, (rnd, changed)
            assert peak < MEMORY_MAX, (rnd, peak >> 20, hostile.kinds)
            shutil.rmtree(room, ignore_errors=True)

        # Backups through the double: each ends cleanly, done or refused.
        made = {}
        for rnd in range(ROUNDS // 10):
            (src / "sub" / f"more-{rnd}.txt").write_bytes(rng.randbytes(50000))
            hostile.p = rng.choice([0.1, 0.3])
            code, out, err, peak = run_measured(a, "backup", str(src), "--json")
            hostile.p = 0.0
            codes[("backup", code)] = codes.get(("backup", code), 0) + 1
            peak_all = max(peak_all, peak)
            assert code in (0, 1, 5), (code, out[-2000:], err[-2000:])
            if code == 1:
                assert err.strip() or out.strip()
            else:
                made[json.loads(out.strip().splitlines()[-1])["recovery_point"]] = state_of(src)
            assert peak < MEMORY_MAX, (peak >> 20, hostile.kinds)
        # What those backups committed restores honestly, or names what it
        # cannot give back (a service that lied about what it holds can
        # only make files go missing, never wrong).
        for pid, state in made.items():
            fresh_cache(a)
            t = tmp_path / f"after-{pid}"
            code, out, err, _ = run_measured(a, "restore", pid, "--target", str(t), "--json")
            wrong, unnamed = check_round({pid: state}, str(t), code, out, err, pid)
            assert code in (0, 5) and not wrong and not unnamed, (pid, out[-2000:], err[-2000:])
    finally:
        relay.stop()
    print(f"hostile answers: {hostile.served} served, {wrong_total} wrong bytes written, "
          f"{outside_total} writes outside the target, peak agent memory "
          f"{peak_all / (1 << 20):.0f} MiB (honest restore {peak_honest / (1 << 20):.0f} MiB)")
    print(f"hostile kinds: {dict(sorted(hostile.kinds.items()))}; exit codes: {codes}")
    assert hostile.served >= ROUNDS // 2  # most rounds were attacked
