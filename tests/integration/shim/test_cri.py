#!/usr/bin/python3
"""The Kubernetes CRI path driven by crictl, as a user would: a pod (pause sandbox + two app
containers) through containerd's CRI plugin with the runtime handler for VEIL_TEST_RUNTIME
(`veil`, or `runc` for comparison): runp -> create -> start -> exec -s / exec -i -> logs ->
stats -> stop -> rm -> stopp -> rmp, with inspectp/inspect checking each state. With veil the
whole pod is one VM: one shim, one QEMU, one guest kernel shared by both containers.
"""

import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import crictl  # noqa: E402
import harness  # noqa: E402
import images  # noqa: E402
import testmain  # noqa: E402

RUNTIME = harness.RUNTIME
VEIL = harness.is_veil()
HANDLER = "veil" if VEIL else "runc"
CRI_NAMESPACE = "k8s.io"

ctd = None
cri = None


def setUpModule():
    global ctd, cri
    harness.require_runtime_binaries()
    ctd = harness.Containerd(namespace=CRI_NAMESPACE)
    ctd.start()
    cri = crictl.Crictl(ctd)
    cri.wait_for_images((images.PAUSE_IMAGE, images.BUSYBOX_IMAGE))


def tearDownModule():
    if ctd is not None:
        ctd.stop()


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


class CriPodTests(unittest.TestCase):
    def remove_pod(self, pod_id):
        """Cleanup if the test stopped half-way (stopp stops the pod's containers)."""
        if pod_id in cri.pods():
            cri.run("stopp", pod_id, check=False)
            res = cri.run("rmp", "-f", pod_id, check=False)
            if res.returncode != 0:
                print(f"cleanup of pod {pod_id}: {res.stderr}", file=sys.stderr)

    def test_version(self):
        lines = dict(line.split(":", 1) for line in cri.run("version").stdout.splitlines()
                     if ":" in line)
        self.assertEqual(lines["RuntimeName"].strip(), "containerd")
        self.assertEqual(lines["RuntimeApiVersion"].strip(), "v1")

    def test_pod_lifecycle_in_one_sandbox(self):
        uid = uuid.uuid4().hex[:12]
        log_dir = os.path.join(ctd.dir, "pods", uid)
        os.makedirs(log_dir)
        pod_json = cri.write_json("pod", crictl.host_network_pod(f"pod-{uid}", uid, log_dir))
        pod_id = cri.out("runp", "--runtime", HANDLER, pod_json)
        self.addCleanup(self.remove_pod, pod_id)
        status = cri.json("inspectp", pod_id)["status"]
        self.assertEqual(status["state"], "SANDBOX_READY")
        self.assertEqual(status["runtimeHandler"], HANDLER)
        self.assertIn(pod_id, cri.pods())

        containers = []
        for name in ("app1", "app2"):
            config = cri.write_json(name, crictl.container(
                name, images.BUSYBOX_IMAGE, ["sh", "-c", f"echo {name}-started; exec sleep 3600"],
                f"{name}.log"))
            cid = cri.out("create", pod_id, config, pod_json)
            self.assertEqual(cri.container_status(cid)["state"], "CONTAINER_CREATED")
            cri.run("start", cid)
            self.assertEqual(cri.container_status(cid)["state"], "CONTAINER_RUNNING")
            containers.append(cid)
        self.assertEqual(sorted(cri.containers()), sorted(containers))

        # The pod is one sandbox: one shim (and with veil one VM) for pause + both apps.
        self.assertEqual(len(ctd.shims()), 1, "expected one shim for the whole pod")
        if VEIL:
            self.assertEqual(len(ctd.qemus()), 1, "expected exactly one QEMU for the whole pod")
        else:
            self.assertEqual(ctd.qemus(), [])

        # exec -s (ExecSync). crictl 1.37 prints the command's stdout, then its stderr, on its
        # stdout; a non-zero status makes it fail with "... exited with N: <stderr>".
        res = cri.run("exec", "-s", "--timeout", "120", containers[0],
                      "sh", "-c", "echo out; echo err >&2; uname -r")
        lines = res.stdout.split()
        self.assertEqual(lines[0], "out")
        self.assertEqual(lines[2], "err")
        if VEIL:
            self.assertNotEqual(lines[1], os.uname().release, "ran on the host kernel")
        else:
            self.assertEqual(lines[1], os.uname().release)
        res = cri.run("exec", "-s", containers[0], "sh", "-c", "echo oops >&2; exit 3",
                      check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertRegex(res.stderr, r"exited with 3: oops")

        ids = [cri.run("exec", "-s", cid, "cat", "/proc/sys/kernel/random/boot_id").stdout.strip()
               for cid in containers]
        self.assertEqual(ids[0], ids[1], "the pod's containers run on different kernels")
        if VEIL:
            self.assertNotEqual(ids[0], boot_id(), "the pod runs on the host kernel")

        # exec -i (Exec through containerd's streaming server): stdin reaches the process,
        # its EOF ends it.
        res = cri.run("exec", "-i", containers[1], "sh", "-c", "read x; echo got-$x; cat",
                      input="hello\nrest\n")
        self.assertEqual(res.stdout.split(), ["got-hello", "rest"])

        # stdout reached CRI's container log ("<time> stdout F <line>"), which crictl logs reads.
        for name, cid in zip(("app1", "app2"), containers):
            path = os.path.join(log_dir, f"{name}.log")
            harness.wait_for(lambda: os.path.exists(path) and
                             f"stdout F {name}-started" in open(path).read(), 30,
                             f"{name}'s output in {path}")
            self.assertEqual(cri.run("logs", cid).stdout.strip(), f"{name}-started")

        # stats: the shim's Stats (the agent's cgroup numbers with veil) as CRI reports them.
        stats = cri.json("stats", "--id", containers[0])["stats"]
        self.assertEqual([s["attributes"]["id"] for s in stats], [containers[0]])
        self.assertGreater(int(stats[0]["memory"]["workingSetBytes"]["value"]), 0, stats)
        self.assertGreater(int(stats[0]["cpu"]["usageCoreNanoSeconds"]["value"]), 0, stats)

        # `sleep` as PID 1 of its PID namespace has no TERM handler, so TERM does nothing and
        # stop ends with SIGKILL after the 2 s timeout: 137 under runc and veil alike.
        cri.run("stop", "--timeout", "2", containers[0])
        status = cri.container_status(containers[0])
        self.assertEqual(status["state"], "CONTAINER_EXITED")
        self.assertEqual(status["exitCode"], 137)
        cri.run("rm", containers[0])
        self.assertEqual(cri.container_status(containers[1])["state"], "CONTAINER_RUNNING",
                         "removing one container hurt the other")
        if VEIL:
            self.assertEqual(len(ctd.qemus()), 1, "the VM must live while the pod lives")

        cri.run("stopp", pod_id)
        self.assertEqual(cri.pod_state(pod_id), "SANDBOX_NOTREADY")
        self.assertEqual(cri.container_status(containers[1])["state"], "CONTAINER_EXITED")
        cri.run("rm", containers[1])
        cri.run("rmp", pod_id)
        self.assertNotIn(pod_id, cri.pods())
        self.assertEqual(cri.containers(), [])

        harness.wait_for(lambda: not ctd.shims() and not ctd.qemus(), 20,
                         "the pod's shim and VM to exit")
        self.assertFalse(os.path.exists(ctd.shim_socket_path(CRI_NAMESPACE, pod_id)),
                         "shim socket remains")
        self.assertEqual(harness.mounts_under(ctd.dir), [], "mounts remain")
        self.assertEqual(os.listdir(ctd.run_dir), [], f"entries remain in {ctd.run_dir}")
        self.assertEqual(ctd.tasks(), {}, "tasks remain")


if __name__ == "__main__":
    testmain.main("integration-shim-cri", RUNTIME)
