"""The portal's side of arcad, without a browser: its pages and their
security headers, paths that must not escape the embedded files, the session
cookie and its CSRF token, and the limit on failed sign-ins. (tests/browser
drives the pages themselves in Chromium.)"""
import http.client
import json
import re

from helpers import PASSWORD, Service, init


def raw(svc, method, path, body=None, headers=None):
    """One request with PATH sent exactly as given; (status, headers, bytes)."""
    m = re.match(r"(https?)://([^:]+):(\d+)", svc.url)
    conn = (http.client.HTTPSConnection(m.group(2), int(m.group(3)), context=svc.ctx, timeout=30)
            if m.group(1) == "https" else
            http.client.HTTPConnection(m.group(2), int(m.group(3)), timeout=30))
    try:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        h = dict(headers or {})
        if body is not None and "Content-Type" not in h:
            h["Content-Type"] = "application/json"
        h = {k: v for k, v in h.items() if v is not None}  # None: leave the header out
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, r.headers, r.read()
    finally:
        conn.close()


def cookie_sign_in(svc):
    st, h, body = raw(svc, "POST", "/api/v1/session",
                      {"user": "owner", "password": PASSWORD, "cookie": True})
    assert st == 201, body
    m = re.match(r"arca_session=([0-9a-f]{64});", h["Set-Cookie"])
    assert m, h["Set-Cookie"]
    return m.group(1), json.loads(body), h["Set-Cookie"]


def test_pages_have_a_strict_policy_and_revalidate(svc):
    st, h, body = raw(svc, "GET", "/")
    assert st == 200 and body.startswith(b"<!doctype html>")
    assert h["Content-Type"] == "text/html; charset=utf-8"
    csp = h["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["Referrer-Policy"] == "no-referrer"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Cache-Control"] == "no-cache"
    # No inline script in the page itself: the policy would block it anyway.
    assert not re.search(rb"<script(?![^>]*\bsrc=)[^>]*>", body)
    st, h2, body2 = raw(svc, "GET", "/", headers={"If-None-Match": h["ETag"]})
    assert st == 304 and body2 == b""
    for path, ctype in (("/app.js", "text/javascript; charset=utf-8"),
                        ("/portal.css", "text/css; charset=utf-8"),
                        ("/index.html", "text/html; charset=utf-8")):
        st, h, _ = raw(svc, "GET", path)
        assert st == 200 and h["Content-Type"] == ctype, path
    st, h, _ = raw(svc, "POST", "/index.html", b"x", {"Content-Type": "text/plain"})
    assert st == 405 and h["Allow"] == "GET, HEAD"


def test_no_path_leaves_the_embedded_files(svc):
    for path in ("/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "//etc/passwd",
                 "/portal/app.js", "/src/service/portal/app.js", "/app.js/", "/./app.js",
                 "/app.js%00.html", "/meson.build", "/../build.ninja", "/tls/ca.key",
                 "/catalog.db", "/download/../tls/ca.key", "/download/arca/../../tls/ca.key",
                 "/%2fetc%2fpasswd"):
        st, h, body = raw(svc, "GET", path)
        assert st == 404, (path, body[:200])
        assert b"PRIVATE KEY" not in body and b"root:" not in body


def test_agent_download_is_the_agent_binary(svc):
    st, h, body = raw(svc, "GET", "/download/arca")
    assert st == 200 and body[:4] == b"\x7fELF"
    assert h["Content-Disposition"] == 'attachment; filename="arca"'


def test_cookie_session_needs_the_csrf_token_for_changes(svc):
    token, who, set_cookie = cookie_sign_in(svc)
    assert "token" not in who, "the portal's session token stays in the HttpOnly cookie"
    for attr in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/", "Max-Age=43200"):
        assert attr in set_cookie
    csrf = who["csrf"]
    ck = {"Cookie": f"theme=dark; arca_session={token}"}
    st, _, body = raw(svc, "GET", "/api/v1/session", headers=ck)
    assert st == 200 and json.loads(body)["csrf"] == csrf and json.loads(body)["user"] == "owner"
    st, _, body = raw(svc, "GET", "/api/v1/vaults", headers=ck)
    assert st == 200
    # Changes without the token, or with a wrong one, change nothing.
    for bad in ({}, {"X-CSRF-Token": "0" * 64}, {"X-CSRF-Token": csrf[:-1]}, {"X-CSRF-Token": ""}):
        st, _, body = raw(svc, "POST", "/api/v1/vaults", {"name": "forged", "region": "local-1"},
                          dict(ck, **bad))
        assert st == 403 and json.loads(body)["error"]["code"] == "csrf", bad
        st, _, body = raw(svc, "DELETE", "/api/v1/session", None, dict(ck, **bad))
        assert st == 403
    st, body, _ = svc.call("GET", "/vaults")
    assert body["vaults"] == []
    # Another session's token is not this one's.
    token2, who2, _ = cookie_sign_in(svc)
    assert who2["csrf"] != csrf
    st, _, _ = raw(svc, "POST", "/api/v1/vaults", {"name": "forged", "region": "local-1"},
                   dict(ck, **{"X-CSRF-Token": who2["csrf"]}))
    assert st == 403
    st, _, body = raw(svc, "POST", "/api/v1/vaults", {"name": "real-one", "region": "local-1"},
                      dict(ck, **{"X-CSRF-Token": csrf}))
    assert st == 201, body
    # Bearer tokens need no CSRF token: browsers never send them by themselves.
    st, body, _ = svc.call("POST", "/vaults", {"name": "by-bearer", "region": "local-1"})
    assert st == 201
    # Signing out clears the cookie and ends the session.
    st, h, _ = raw(svc, "DELETE", "/api/v1/session", None, dict(ck, **{"X-CSRF-Token": csrf}))
    assert st == 200 and "arca_session=;" in h["Set-Cookie"] and "Max-Age=0" in h["Set-Cookie"]
    st, _, _ = raw(svc, "POST", "/api/v1/vaults", {"name": "after-out", "region": "local-1"},
                   dict(ck, **{"X-CSRF-Token": csrf}))
    assert st == 401
    st, body, _ = svc.call("GET", "/vaults")
    assert [v["name"] for v in body["vaults"]] == ["by-bearer", "real-one"]
    st, body, _ = svc.call("GET", "/audit")
    assert "portal" in [a["detail"] for a in body["audit"] if a["action"] == "session.create"]


def test_a_portal_session_and_its_csrf_token_outlive_a_restart(svc):
    """Sessions live in the catalog and the CSRF key comes from the catalog
    key: a restarted service (or another service of the same catalog)
    takes the forms the last one served."""
    token, who, _ = cookie_sign_in(svc)
    ck = {"Cookie": f"arca_session={token}", "X-CSRF-Token": who["csrf"]}
    svc.stop()
    svc.__init__(svc.arcad, svc.data)
    st, _, body = raw(svc, "GET", "/api/v1/session", headers=ck)
    assert st == 200 and json.loads(body)["csrf"] == who["csrf"], body
    st, _, body = raw(svc, "POST", "/api/v1/vaults", {"name": "after-restart", "region": "local-1"},
                      ck)
    assert st == 201, body


def test_cookie_sign_in_must_declare_json(svc):
    signin = {"user": "owner", "password": PASSWORD, "cookie": True}
    st, h, body = raw(svc, "POST", "/api/v1/session", signin, {"Content-Type": None})
    assert st == 400 and "Content-Type: application/json" in json.loads(body)["error"]["message"]
    assert "Set-Cookie" not in h
    st, h, _ = raw(svc, "POST", "/api/v1/session", signin, {"Content-Type": "text/plain"})
    assert st == 415 and "Set-Cookie" not in h
    # Without the cookie form, the API keeps taking a body without a type.
    st, _, body = raw(svc, "POST", "/api/v1/session", dict(signin, cookie=False),
                      {"Content-Type": None})
    assert st == 201 and "token" in json.loads(body)


def test_failed_sign_ins_are_limited(svc):
    for _ in range(10):
        st, _, _ = svc.call("POST", "/session", {"user": "owner", "password": "wrong"})
        assert st == 401
    st, body, h = svc.call("POST", "/session", {"user": "owner", "password": PASSWORD})
    assert st == 429 and body["error"]["code"] == "rate_limited"
    assert 1 <= int(h["Retry-After"]) <= 30
    # The limit is on the address too: another user name gets no fresh tries.
    st, body, _ = svc.call("POST", "/session", {"user": "someone-else", "password": "x"})
    assert st == 429
    # Sessions already signed in go on working.
    st, _, _ = svc.call("GET", "/vaults")
    assert st == 200


def test_plain_http_cookie_is_not_secure(arcad_bin, tmp_path):
    s = Service(arcad_bin, init(arcad_bin, tmp_path), plain=True)
    try:
        _, _, set_cookie = cookie_sign_in(s)
        assert "HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie
        assert "Secure" not in set_cookie
    finally:
        s.stop()


def test_credentials_download_raises_an_alert(svc):
    st, _, _ = svc.call("POST", "/vaults", {"name": "alerted", "region": "local-1"})
    assert st == 201
    st, _, _ = svc.call("POST", "/vaults/alerted/credentials", raw=True)
    assert st == 201
    st, body, _ = svc.call("GET", "/alerts")
    a = body["alerts"][0]
    assert a["kind"] == "credentials.downloaded" and a["target"] == "alerted"
    assert "48 hours" in a["message"]
