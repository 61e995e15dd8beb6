"""Helpers for the agent's end-to-end tests: a real arcad on loopback, a
vault, vault-credentials files, and agents installed in folders of the test."""
import json
import os
import subprocess

from test_service import Service, init

PASSPHRASE = "correct horse battery staple 42"


class Agent:
    def __init__(self, arca, home, cache):
        self.arca, self.home, self.cache = arca, str(home), str(cache)
        self.env = None  # the environment of every run (a test clock, say)

    def run(self, *args, input=None, timeout=300, env=None):
        p = subprocess.run([self.arca, *args, "--home", self.home], input=input,
                           capture_output=True, text=True, timeout=timeout,
                           env=env or self.env)
        # Under the sanitizer build, any report fails the test.
        assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr[-4000:]
        return p

    def popen(self, *args):
        """Start the agent without waiting: for runs that overlap."""
        return subprocess.Popen([self.arca, *args, "--home", self.home], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=self.env)

    def json(self, *args, ok=(0,)):
        p = self.run(*args, "--json")
        assert p.returncode in ok, (p.returncode, p.stdout, p.stderr)
        return json.loads(p.stdout.strip().splitlines()[-1])


class World:
    """One service with one vault, and what a test needs to register agents."""

    def __init__(self, arcad, arca, tmp, vault="backup-vault", redundancy="GRS"):
        self.arca, self.tmp, self.vault = arca, tmp, vault
        self.s = Service(arcad, init(arcad, tmp))
        self.s.sign_in()
        st, body, _ = self.s.call("POST", "/vaults", {"name": vault, "region": "local-1",
                                                      "redundancy": redundancy})
        assert st == 201, body
        self.n = 0

    def credentials(self):
        st, xml, _ = self.s.call("POST", f"/vaults/{self.vault}/credentials", raw=True)
        assert st == 201
        self.n += 1
        path = self.tmp / f"creds-{self.n}.VaultCredentials"
        path.write_bytes(xml)
        return path

    def register(self, name, passphrase=PASSPHRASE, creds=None, extra=(), expect=0, install=None):
        """Register agent NAME, installed in home-INSTALL (default: NAME)."""
        self.n += 1
        install = install or name
        home, cache = self.tmp / f"home-{install}", self.tmp / f"cache-{install}"
        pf = self.tmp / f"pass-{name}-{self.n}"
        pf.write_text(passphrase + "\n")
        kit = self.tmp / f"kit-{name}-{self.n}.txt"
        a = Agent(self.arca, home, cache)
        p = a.run("register", "--vault-credentials", str(creds or self.credentials()),
                  "--cache", str(cache), "--machine-name", name,
                  "--passphrase-file", str(pf), "--passphrase-out", str(kit), *extra)
        assert p.returncode == expect, (p.returncode, p.stdout, p.stderr)
        a.kit, a.passfile, a.proc = kit, pf, p
        return a

    def stop(self):
        self.s.stop()
