"""A service behind HAProxy speaking the PROXY protocol (contrib/haproxy.cfg,
`arcad serve --proxy`): the limits count the clients the balancer names,
not the balancer. HAProxy connects to arcad from 127.0.0.2, the one address
arcad trusts for headers; clients reach the balancer from 127.0.0.3 and
127.0.0.4, and arcad directly from 127.0.0.1. Failed registrations are
limited per address (20, docs/API.md): twenty failures from one client
behind the balancer lock that client out, and neither the other client
behind it nor a direct one."""
import http.client
import json
import os
import shutil
import socket
import subprocess
import time

import pytest

from helpers import Service, free_port, init

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BALANCER = "127.0.0.2"


def wait_port(port):
    for _ in range(200):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port}")


def ask(ctx, port, source, method, path, body=None):
    """METHOD PATH on 127.0.0.1:PORT from local address SOURCE: (status,
    answer), or (None, error) when the connection was closed unanswered."""
    c = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=20,
                                    source_address=(source, 0))
    try:
        data = None if body is None else json.dumps(body).encode()
        c.request(method, "/api/v1" + path, body=data,
                  headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"null")
    except (OSError, http.client.HTTPException) as e:
        return None, str(e)
    finally:
        c.close()


@pytest.mark.skipif(shutil.which("haproxy") is None,
                    reason="HAProxy is not installed (scripts/bootstrap installs it)")
def test_limits_count_the_clients_behind_the_balancer(arcad_bin, tmp_path):
    port, lb_port = free_port(), free_port()
    s = Service(arcad_bin, init(arcad_bin, tmp_path), port=port, extra=("--proxy", BALANCER))
    lb = None
    try:
        conf = open(os.path.join(ROOT, "contrib", "haproxy.cfg")).read()
        server = (f"    server arcad0 127.0.0.1:{port} send-proxy-v2 check check-send-proxy "
                  f"inter 300ms fall 2 rise 2 source {BALANCER}")
        conf = conf.replace("@LISTEN@", f"127.0.0.1:{lb_port}").replace("@SERVERS@", server)
        (tmp_path / "haproxy.cfg").write_text(conf)
        lb = subprocess.Popen(["haproxy", "-f", str(tmp_path / "haproxy.cfg"), "-db"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_port(lb_port)
        for _ in range(100):  # until the balancer's check finds the service up
            if ask(s.ctx, lb_port, "127.0.0.3", "GET", "/health")[0] == 200:
                break
            time.sleep(0.1)
        assert ask(s.ctx, lb_port, "127.0.0.3", "GET", "/health")[0] == 200

        # Twenty failed registrations from one client behind the balancer...
        sts = [ask(s.ctx, lb_port, "127.0.0.3", "POST", "/register", {})[0] for _ in range(21)]
        assert sts[:20] == [400] * 20 and sts[20] == 429, sts
        st, body = ask(s.ctx, lb_port, "127.0.0.3", "POST", "/register", {})
        assert st == 429 and "registrations from this address" in body["error"]["message"], body
        # ...lock that client out, not the other one behind the balancer,
        assert ask(s.ctx, lb_port, "127.0.0.4", "POST", "/register", {})[0] == 400
        # nor a client that reaches the service directly.
        assert ask(s.ctx, port, "127.0.0.1", "POST", "/register", {})[0] == 400
        # The balancer's own address is believed only with a header: a
        # request straight from it is closed unanswered.
        st, err = ask(s.ctx, port, BALANCER, "GET", "/health")
        assert st is None, (st, err)
        print(f"proxy: 20 failures from 127.0.0.3 behind the balancer then 429; 127.0.0.4 "
              f"behind it and 127.0.0.1 directly still served")
    finally:
        if lb is not None:
            lb.terminate()
            lb.communicate(timeout=20)
        s.stop()
