#!/usr/bin/python3
"""Pods that network like Kubernetes pods, driven by crictl through a private containerd with
CNI (Debian's bridge + host-local + portmap + loopback), all inside a network namespace this
test creates (lib/netns.py): the CNI bridge, dnsmasq, the pods' addresses and every client
exist only there.

With veil the pod's veth becomes the VM's NIC (a tap with tc mirred redirects, podnet/), and
the agent is told the pod's interface, routes and neighbours before CreateSandbox. The same
tests run under runc (VEIL_TEST_RUNTIME=io.containerd.runc.v2) for comparison; the host-side
checks of the tap model and the bad-netns cases are veil's own.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cni  # noqa: E402
import crictl  # noqa: E402
import harness  # noqa: E402
import images  # noqa: E402
import netns  # noqa: E402
import testmain  # noqa: E402

VEIL = harness.is_veil()
HANDLER = "veil" if VEIL else "runc"
CRI_NAMESPACE = "k8s.io"
BRIDGE = "veilnet0"
SUBNET = "10.90.0.0/24"
GATEWAY = "10.90.0.1"
DOMAIN = "veil.test"
HTTP_PORT = 8080

ns = None
ctd = None
cri = None
work = None


def setUpModule():
    global ns, ctd, cri, work
    harness.require_runtime_binaries()
    missing = cni.require_plugins()
    if not os.access("/usr/sbin/dnsmasq", os.X_OK):
        missing.append("/usr/sbin/dnsmasq (package dnsmasq-base)")
    if missing:
        raise RuntimeError("missing: " + ", ".join(missing) + " (run scripts/setup)")
    work = tempfile.mkdtemp(prefix="veil-podnet-")
    ns = netns.NetNS(f"veil-podnet-{os.getpid()}")
    ns.__enter__()
    # The bridge exists before the first pod so that dnsmasq can bind its address; the CNI
    # bridge plugin takes it over (isGateway keeps the address).
    for argv in (["ip", "link", "add", BRIDGE, "type", "bridge"],
                 ["ip", "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE],
                 ["ip", "link", "set", BRIDGE, "up"]):
        subprocess.run(argv, check=True, capture_output=True)
    ctd = harness.Containerd(namespace=CRI_NAMESPACE, cni_bin_dir=cni.CNI_DIR,
                             configure=cni.bridge_configure("veil-podnet", BRIDGE, SUBNET))
    ctd.start()
    cri = crictl.Crictl(ctd)
    cri.wait_for_images((images.PAUSE_IMAGE, images.BUSYBOX_IMAGE))


def tearDownModule():
    if ctd is not None:
        ctd.stop()
    if ns is not None:
        ns.__exit__(None, None, None)


def pod_config(name, hostname):
    uid = uuid.uuid4().hex
    log_dir = os.path.join(work, f"logs-{name}-{uid[:8]}")
    os.makedirs(log_dir)
    return {
        "metadata": {"name": name, "uid": uid, "namespace": "veil-test", "attempt": 0},
        "hostname": hostname,
        "log_directory": log_dir,
        "dns_config": {"servers": [GATEWAY], "searches": [DOMAIN], "options": ["ndots:2"]},
        "linux": {"security_context": {"namespace_options": crictl.namespace_options(crictl.POD)}},
    }


def http_get(url, timeout_s=60):
    """The body of url, retried while the server comes up (bounded)."""
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode()
        except OSError as e:
            last = e
            time.sleep(0.5)
    raise AssertionError(f"GET {url}: no answer within {timeout_s}s: {last}")


def pod_netns_path(pod_id):
    """The pod's network namespace on the host, from containerd's verbose pod status."""
    info = cri.json("inspectp", pod_id).get("info", {})
    spec = info.get("runtimeSpec") or {}
    for n in spec.get("linux", {}).get("namespaces", []):
        if n.get("type") == "network" and n.get("path"):
            return n["path"]
    return None


def in_netns(path, *argv):
    return subprocess.run(["nsenter", f"--net={path}"] + list(argv), capture_output=True,
                          text=True, timeout=30)


class PodNetworkTests(unittest.TestCase):
    def run_pod(self, name, hostname, command, mounts=None):
        cfg = pod_config(name, hostname)
        pod_path = cri.write_json(f"{name}-pod", cfg)
        pod_id = cri.out("runp", "--runtime", HANDLER, pod_path)
        self.addCleanup(self.remove_pod, pod_id)
        c = crictl.container(f"{name}-app", images.BUSYBOX_IMAGE, command,
                             f"{name}-app.log", network=crictl.POD)
        if mounts:
            c["mounts"] = mounts
        cid = cri.out("create", pod_id, cri.write_json(f"{name}-ctr", c), pod_path)
        cri.run("start", cid)
        return pod_id, cid

    def remove_pod(self, pod_id):
        if pod_id in cri.pods():
            cri.run("stopp", pod_id, check=False)
            cri.run("rmp", "-f", pod_id, check=False)

    def pod_ip(self, pod_id):
        ip = cri.json("inspectp", pod_id)["status"]["network"]["ip"]
        self.assertTrue(ip.startswith("10.90.0."), f"pod IP {ip!r} is not in {SUBNET}")
        return ip

    def test_pods_serve_call_and_resolve(self):
        server_cmd = ["sh", "-c", "mkdir -p /www && echo served-by-$(hostname) > /www/index.html"
                      f" && exec httpd -f -p {HTTP_PORT} -h /www"]
        web_pod, web_ctr = self.run_pod("web", "web-host", server_cmd)
        web_ip = self.pod_ip(web_pod)

        # host -> pod: the file the container serves, through the pod IP CRI reports
        self.assertEqual(http_get(f"http://{web_ip}:{HTTP_PORT}/index.html").strip(),
                         "served-by-web-host")
        self.assertEqual(cri.run("exec", "-s", web_ctr, "hostname").stdout.strip(), "web-host")
        hosts = cri.run("exec", "-s", web_ctr, "cat", "/etc/hosts").stdout
        self.assertRegex(hosts, r"127\.0\.0\.1\s+localhost")

        # the container's NIC: the pod's address and, with veil, the guest NIC that carries
        # the veth's MAC (found by MAC by the agent's UpdateInterface)
        addrs = cri.run("exec", "-s", web_ctr, "ip", "-o", "addr", "show", "eth0").stdout
        self.assertIn(f"inet {web_ip}/24", addrs)
        if VEIL:
            veth_mac = self.check_tap_model(web_pod)
            self.assertEqual(cri.run("exec", "-s", web_ctr, "cat", "/sys/class/net/eth0/address"
                                     ).stdout.strip(), veth_mac)

        # a DNS server for the test domain only, on the bridge
        dns = subprocess.Popen(
            ["/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
             f"--local=/{DOMAIN}/",  # the test domain only, answered here (AAAA: no data)
             "--no-dhcp-interface=" + BRIDGE, f"--listen-address={GATEWAY}", "--bind-interfaces",
             f"--pid-file={work}/dnsmasq.pid", f"--host-record=web.{DOMAIN},{web_ip}",
             "--log-facility=-"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (dns.kill(), dns.wait()))

        # pod -> pod by IP and by name through the pod's DNS config
        client_pod, client_ctr = self.run_pod("client", "client-host", ["sleep", "3600"])
        self.assertNotEqual(self.pod_ip(client_pod), web_ip)
        resolv = cri.run("exec", "-s", client_ctr, "cat", "/etc/resolv.conf").stdout
        self.assertIn(f"nameserver {GATEWAY}", resolv)
        self.assertIn(f"search {DOMAIN}", resolv)
        # (busybox-static's wget crashes in static glibc's resolver code: nc speaks HTTP here)
        out = cri.run("exec", "-s", client_ctr, "sh", "-c",
                      f"printf 'GET /index.html HTTP/1.0\\r\\n\\r\\n' | nc -w 10 {web_ip} {HTTP_PORT}"
                      ).stdout
        self.assertRegex(out, r"^HTTP/1\.[01] 200")
        self.assertEqual(out.replace("\r", "").split("\n\n", 1)[-1].strip(), "served-by-web-host",
                         out)
        res = cri.run("exec", "-s", client_ctr, "nslookup", f"web.{DOMAIN}", check=False)
        self.assertEqual(res.returncode, 0, f"nslookup: {res.stdout} {res.stderr}")
        self.assertIn(web_ip, res.stdout.split("web." + DOMAIN, 1)[-1])
        res = cri.run("exec", "-s", client_ctr, "nslookup", "web", check=False)  # search domain
        self.assertIn(web_ip, res.stdout)

        # teardown: nothing of the pod networks remains
        paths = [pod_netns_path(p) for p in (web_pod, client_pod)]
        for p in (web_pod, client_pod):
            cri.run("stopp", p)
            cri.run("rmp", p)
        harness.wait_for(lambda: not ctd.qemus(), 30, "the pods' VMs to exit")
        for path in paths:
            if path and os.path.exists(path):
                links = in_netns(path, "ip", "-o", "link").stdout
                self.assertNotIn("_veil", links, f"a tap is left in {path}")
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        self.assertNotIn("_veil", links)
        self.assertNotIn("veth", links.replace(BRIDGE, ""), "a pod veth is left on the bridge")

    def check_tap_model(self, pod_id):
        """Kata's tcfilter model in the pod netns: eth0 <-> tap0_veil, ingress qdiscs, mirred.
        Returns the veth's MAC."""
        path = pod_netns_path(pod_id)
        self.assertTrue(path and os.path.exists(path), f"no pod netns in the spec: {path}")
        links = in_netns(path, "ip", "-o", "link").stdout
        self.assertIn("tap0_veil", links)
        for dev, peer in (("eth0", "tap0_veil"), ("tap0_veil", "eth0")):
            filters = in_netns(path, "tc", "filter", "show", "dev", dev, "ingress").stdout
            self.assertRegex(filters, rf"mirred \(Egress Redirect to device {peer}\)",
                             f"tc filters of {dev}: {filters}")
        return json.loads(in_netns(path, "ip", "-j", "link", "show", "eth0").stdout)[0]["address"]

    def test_configmap_like_file_follows_the_host(self):
        cfg_dir = os.path.join(work, "configmap")
        os.makedirs(os.path.join(cfg_dir, "..data-1"))
        with open(os.path.join(cfg_dir, "..data-1", "greeting"), "w") as f:
            f.write("v1\n")
        os.symlink("..data-1", os.path.join(cfg_dir, "..data"))
        os.symlink("..data/greeting", os.path.join(cfg_dir, "greeting"))
        _, cid = self.run_pod("cfg", "cfg-host", ["sleep", "3600"],
                              mounts=[{"container_path": "/etc/config", "host_path": cfg_dir,
                                       "readonly": True}])
        read = lambda: cri.run("exec", "-s", cid, "cat", "/etc/config/greeting").stdout.strip()  # noqa: E731
        self.assertEqual(read(), "v1")
        # the kubelet's atomic update: a new data dir, the ..data symlink swapped by rename
        os.makedirs(os.path.join(cfg_dir, "..data-2"))
        with open(os.path.join(cfg_dir, "..data-2", "greeting"), "w") as f:
            f.write("v2\n")
        os.symlink("..data-2", os.path.join(cfg_dir, "..data-tmp"))
        os.rename(os.path.join(cfg_dir, "..data-tmp"), os.path.join(cfg_dir, "..data"))
        harness.wait_for(lambda: read() == "v2", 20, "the new configMap content in the guest")

    def test_netns_the_model_cannot_take_is_refused(self):
        if not VEIL:
            self.skipTest("veil's tap model: runc takes any netns")
        bad = netns_with_bridge(f"veil-badnet-{os.getpid()}")
        self.addCleanup(subprocess.run, ["ip", "netns", "del", bad], capture_output=True)
        for path, want in ((f"/run/netns/{bad}", r"br0.*bridge|bridge.*br0"),
                           ("/run/netns/veil-no-such-netns", r"veil-no-such-netns")):
            name = f"badnet-{uuid.uuid4().hex[:8]}"
            res = ctd.ctr("run", "--rm", "--runtime", harness.RUNTIME, "--with-ns",
                          f"network:{path}", images.BUSYBOX_IMAGE, name, "true", check=False,
                          timeout=300)
            self.assertNotEqual(res.returncode, 0, f"ctr run with netns {path} succeeded")
            self.assertRegex(res.stderr, want)
            ctd.ctr("task", "rm", "-f", name, check=False)
            ctd.ctr("containers", "rm", name, check=False)
            harness.wait_for(lambda: not ctd.qemus() and not ctd.shims(), 30,
                             "the failed sandbox's VM and shim to go")
        links = in_netns(f"/run/netns/{bad}", "ip", "-o", "link").stdout
        self.assertNotIn("_veil", links, "a tap was left in the refused netns")
        qdiscs = in_netns(f"/run/netns/{bad}", "tc", "qdisc", "show", "dev", "br0").stdout
        self.assertNotIn("ingress", qdiscs)


def netns_with_bridge(name):
    """A netns whose only configured interface is a bridge (not a veth)."""
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    for argv in (["ip", "link", "add", "br0", "type", "bridge"],
                 ["ip", "addr", "add", "10.91.0.1/24", "dev", "br0"],
                 ["ip", "link", "set", "br0", "up"]):
        subprocess.run(["nsenter", f"--net=/run/netns/{name}"] + argv, check=True,
                       capture_output=True)
    return name


if __name__ == "__main__":
    testmain.main("integration-shim-cri-network", harness.RUNTIME)
