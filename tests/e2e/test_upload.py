"""Uploads are admitted from their signed headers before any byte of the
body is stored: an unsigned or forged upload is refused unread, a body that
is not the one signed is refused and its staged file removed, and each
machine has bounded uploads in flight and staged bytes, released however a
request ends (a client gone mid-body included). Raw sockets over plain HTTP
on loopback, so a test sees exactly when the service answers."""
import hashlib
import json
import os
import socket
import time
from urllib.parse import urlparse

import pytest

from helpers import Service, download, init, openssl, register, signature_headers


@pytest.fixture
def machine(arcad_bin, tmp_path):
    s = Service(arcad_bin, init(arcad_bin, tmp_path), plain=True)
    s.sign_in()
    st, _, _ = s.call("POST", "/vaults", {"name": "backup-vault", "region": "local-1"})
    assert st == 201
    mkey = tmp_path / "machine.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(mkey))
    mpub = openssl("pkey", "-in", str(mkey), "-pubout").decode()
    st, body, _ = register(s, download(s, tmp_path), "server-01", mpub)
    assert st == 201, body
    yield s, body["machine_id"], mkey
    s.stop()


def send(s, method, path, headers, body=b"", timeout=10):
    """Open a connection, send the request's head and BODY (maybe only a
    piece of what Content-Length declares); return the socket."""
    u = urlparse(s.url)
    sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
    head = [f"{method} /api/v1{path} HTTP/1.1", f"Host: {u.hostname}:{u.port}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
    return sock


def answer(sock):
    """The first response on SOCK: status, headers (lower-case names) and
    its body as JSON (None for an interim 100 Continue)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise AssertionError(f"connection closed before an answer: {data!r}")
        data += piece
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    if status == 100:
        return status, headers, None
    n = int(headers.get("content-length", "0"))
    while len(rest) < n:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return status, headers, json.loads(rest[:n]) if n else None


def staged(s):
    return sorted(p.name for p in (s.data / "tmp").iterdir())


def upload_headers(mid, key, path, body, declared=None):
    h = signature_headers(mid, key, "PUT", path, body, length=declared)
    h["Content-Type"] = "application/octet-stream"
    h["Content-Length"] = str(len(body) if declared is None else declared)
    return h


def test_unsigned_uploads_are_refused_unread(machine):
    s, mid, mkey = machine
    path = "/packs/" + "ab" * 32
    # A gigabyte declared, a piece sent, no signature: the answer comes at
    # once, without waiting for (or storing) the rest.
    sock = send(s, "PUT", path, {"Content-Type": "application/octet-stream",
                                 "Content-Length": str(1 << 30)}, os.urandom(65536))
    try:
        st, _, body = answer(sock)
    finally:
        sock.close()
    assert st == 401 and "X-Arca-Signature" in body["error"]["message"], body
    assert staged(s) == []
    # A forged signature (another key's): the same.
    other = s.data.parent / "other.key"
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(other))
    h = upload_headers(mid, other, path, b"x" * 1000, declared=1 << 30)
    sock = send(s, "PUT", path, h, b"x" * 1000)
    try:
        st, _, body = answer(sock)
    finally:
        sock.close()
    assert st == 401 and "signature" in body["error"]["message"], body
    assert staged(s) == []
    # A chunked upload declares no length: refused before its body.
    sock = send(s, "PUT", path, {"Transfer-Encoding": "chunked"}, b"10\r\n")
    try:
        st, _, body = answer(sock)
    finally:
        sock.close()
    assert st == 411 and "Content-Length" in body["error"]["message"], body
    assert staged(s) == []


def test_a_body_other_than_the_signed_one_is_refused_and_removed(machine):
    s, mid, mkey = machine
    good = os.urandom(4096)
    path = "/packs/" + hashlib.sha256(good).hexdigest()
    bad = bytes([good[0] ^ 1]) + good[1:]
    sock = send(s, "PUT", path, upload_headers(mid, mkey, path, good), bad)
    try:
        st, _, body = answer(sock)
    finally:
        sock.close()
    assert st == 400 and "not the one signed" in body["error"]["message"], body
    assert staged(s) == []


def admitted(s, mid, key, length):
    """A signed upload of LENGTH bytes whose head is sent with Expect:
    100-continue: (socket, status) where 100 means admitted."""
    path = "/packs/" + os.urandom(32).hex()
    h = signature_headers(mid, key, "PUT", path, length=length, sha=os.urandom(32).hex())
    h.update({"Content-Type": "application/octet-stream", "Content-Length": str(length),
              "Expect": "100-continue"})
    sock = send(s, "PUT", path, h)
    st, headers, body = answer(sock)
    return sock, st, headers, body


def eventually_admitted(s, mid, key, length):
    """The service notices a closed connection a moment later."""
    for _ in range(50):
        sock, st, headers, body = admitted(s, mid, key, length)
        if st == 100:
            return sock
        sock.close()
        time.sleep(0.1)
    raise AssertionError(f"not admitted: {st} {body}")


def test_uploads_in_flight_and_staged_bytes_are_bounded_per_machine(machine):
    s, mid, mkey = machine
    held = []
    try:
        for _ in range(4):
            sock, st, _, body = admitted(s, mid, mkey, 1 << 20)
            held.append(sock)
            assert st == 100, body
        sock, st, headers, body = admitted(s, mid, mkey, 1 << 20)
        sock.close()
        assert st == 429 and body["error"]["code"] == "rate_limited", body
        assert "4 uploads in flight" in body["error"]["message"]
        assert int(headers["retry-after"]) > 0
        # A client gone in the middle of its body gives its slot back.
        held[0].sendall(b"x" * 1000)
        held.pop(0).close()
        held.append(eventually_admitted(s, mid, mkey, 1 << 20))
        for sock in held:
            sock.close()
        held = []
        # Declared bytes: 3 GiB in flight leave no room for 2 more.
        held.append(eventually_admitted(s, mid, mkey, 3 << 30))
        sock, st, headers, body = admitted(s, mid, mkey, 2 << 30)
        sock.close()
        assert st == 429 and "bytes" in body["error"]["message"], body
        assert "Retry-After".lower() in headers
        held.pop().close()
        held.append(eventually_admitted(s, mid, mkey, 2 << 30))
    finally:
        for sock in held:
            sock.close()
    # Nothing of the abandoned uploads stays behind.
    for _ in range(50):
        if staged(s) == []:
            break
        time.sleep(0.1)
    assert staged(s) == []
