"""Debian's docker-registry (distribution 2.8) as a local registry for a test, and containerd
registry host configs (`config_path` hosts.toml dirs) that make it the mirror of upstream
registries, so image pulls work without internet."""

import os
import subprocess
import time
import urllib.request

BINARY = "/usr/bin/docker-registry"


class Registry:
    def __init__(self, work_dir, address="127.0.0.1:5000"):
        self.dir = work_dir
        self.address = address
        self.proc = None
        self.log_path = os.path.join(work_dir, "registry.log")

    def start(self, timeout=30):
        if not os.access(BINARY, os.X_OK):
            raise RuntimeError(f"missing: {BINARY} (package docker-registry: scripts/setup)")
        config = os.path.join(self.dir, "registry.yml")
        with open(config, "w") as f:
            f.write(f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {self.dir}/data\n"
                    f"  delete:\n    enabled: true\nhttp:\n  addr: {self.address}\n"
                    "log:\n  level: warn\n  accesslog:\n    disabled: true\n")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([BINARY, "serve", config], stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"docker-registry exited with {self.proc.returncode}: "
                                   f"{open(self.log_path).read()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not answer on {self.address} "
                                   f"within {timeout}s")
            time.sleep(0.1)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def write_mirror_hosts(self, hosts_dir, upstreams):
        """<hosts_dir>/<upstream>/hosts.toml: pull and resolve through this registry (plain
        HTTP); the upstream itself stays the fallback, unreachable here."""
        for host in upstreams:
            d = os.path.join(hosts_dir, host)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "hosts.toml"), "w") as f:
                f.write(f'server = "https://{host}"\n\n[host."http://{self.address}"]\n'
                        '  capabilities = ["pull", "resolve"]\n')
        return hosts_dir
