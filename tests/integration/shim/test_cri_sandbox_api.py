#!/usr/bin/python3
"""containerd 2.x's Sandbox API: the runtime handler `sandbox-api` (veil, `sandboxer = "shim"`)
makes containerd drive the pod through veil's containerd.runtime.sandbox.v1.Sandbox service
(CreateSandbox, StartSandbox, SandboxStatus, WaitSandbox, StopSandbox, ShutdownSandbox) with
no pause container. Driven by crictl: runp boots the VM, two app containers share it (one
shim, one QEMU, no sandbox task), stopp stops the VM, rmp ends the shim; nothing is left.
Needs containerd 2.3 or newer (VEIL_CONTAINERD).
"""

import json
import os
import sys
import unittest
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import crictl  # noqa: E402
import harness  # noqa: E402
import images  # noqa: E402
import testmain  # noqa: E402
import tools  # noqa: E402

CRI_NAMESPACE = "k8s.io"
HANDLER = harness.SANDBOX_API_HANDLER
BROKEN = "sandbox-api-nokernel"  # the same with a runtime config whose kernel is missing
ctd = None
cri = None


def setUpModule():
    global ctd, cri
    series = tools.containerd_series()
    if series not in ("2.3", "2.4"):
        raise RuntimeError(f"the Sandbox API test needs containerd 2.3 or 2.4, not {series} "
                           "(set VEIL_CONTAINERD)")
    harness.require_runtime_binaries()
    ctd = harness.Containerd(namespace=CRI_NAMESPACE, configure=add_broken_handler)
    ctd.start()
    cri = crictl.Crictl(ctd)
    cri.wait_for_images((images.PAUSE_IMAGE, images.BUSYBOX_IMAGE))


def add_broken_handler(c):
    with open(c.veil_config) as f:
        config = json.load(f)
    config["kernel"] = os.path.join(c.dir, "no-such-vmlinux")
    broken = os.path.join(c.dir, "nokernel.json")
    with open(broken, "w") as f:
        json.dump(config, f)
    table = f'plugins."io.containerd.cri.v1.runtime".containerd.runtimes.{BROKEN}'
    with open(c.config_path, "a") as f:
        f.write(f'\n[{table}]\n  runtime_type = "io.containerd.veil.v2"\n  sandboxer = "shim"\n'
                f'\n[{table}.options]\n  ConfigPath = "{broken}"\n')


def tearDownModule():
    if ctd is not None:
        ctd.stop()


class SandboxApiTests(unittest.TestCase):
    def remove_pod(self, pod_id):
        if pod_id in cri.pods():
            cri.run("stopp", pod_id, check=False)
            cri.run("rmp", "-f", pod_id, check=False)

    def test_pod_through_the_sandbox_api(self):
        uid = uuid.uuid4().hex[:12]
        log_dir = os.path.join(ctd.dir, "pods", uid)
        os.makedirs(log_dir)
        pod_json = cri.write_json("pod", crictl.host_network_pod(f"sbx-{uid}", uid, log_dir))
        pod_id = cri.out("runp", "--runtime", HANDLER, pod_json)
        self.addCleanup(self.remove_pod, pod_id)
        status = cri.json("inspectp", pod_id)["status"]
        self.assertEqual(status["state"], "SANDBOX_READY")
        self.assertEqual(status["runtimeHandler"], HANDLER)
        # StartSandbox booted the VM: one shim and one QEMU before any container exists.
        self.assertEqual(len(ctd.shims()), 1)
        self.assertEqual(len(ctd.qemus()), 1)
        self.assertEqual(ctd.tasks(), {}, "a sandbox task exists: the pod went the pause way")

        containers = []
        for name in ("app1", "app2"):
            config = cri.write_json(name, crictl.container(
                name, images.BUSYBOX_IMAGE, ["sh", "-c", f"echo {name}-up; exec sleep 3600"],
                f"{name}.log"))
            cid = cri.out("create", pod_id, config, pod_json)
            cri.run("start", cid)
            self.assertEqual(cri.container_status(cid)["state"], "CONTAINER_RUNNING")
            containers.append(cid)
        self.assertEqual(sorted(ctd.tasks()), sorted(containers))
        self.assertEqual(len(ctd.shims()), 1, "the containers did not join the pod's shim")
        self.assertEqual(len(ctd.qemus()), 1, "the containers did not join the pod's VM")
        kernels = {cri.run("exec", "-s", cid, "uname", "-r").stdout.strip() for cid in containers}
        self.assertEqual(len(kernels), 1)
        self.assertNotEqual(kernels.pop(), os.uname().release, "ran on the host kernel")
        boot_ids = {cri.run("exec", "-s", cid, "cat", "/proc/sys/kernel/random/boot_id")
                    .stdout.strip() for cid in containers}
        self.assertEqual(len(boot_ids), 1, "the pod's containers run on different kernels")
        for name, cid in zip(("app1", "app2"), containers):
            harness.wait_for(lambda: cri.run("logs", cid).stdout.strip() == f"{name}-up", 30,
                             f"{name}'s log")

        # Removing every container leaves the sandbox (and its VM) to the Sandbox API.
        for cid in containers:
            cri.run("stop", "--timeout", "0", cid)
            cri.run("rm", cid)
        self.assertEqual(cri.pod_state(pod_id), "SANDBOX_READY")
        self.assertEqual(len(ctd.qemus()), 1, "the VM went with the last container")
        self.assertEqual(len(ctd.shims()), 1, "the shim went with the last container")

        cri.run("stopp", pod_id)
        self.assertEqual(cri.pod_state(pod_id), "SANDBOX_NOTREADY")
        harness.wait_for(lambda: not ctd.qemus(), 30, "StopSandbox to end the VM")
        cri.run("rmp", pod_id)
        self.assertNotIn(pod_id, cri.pods())
        harness.wait_for(lambda: not ctd.shims(), 30, "ShutdownSandbox to end the shim")
        self.assertFalse(os.path.exists(ctd.shim_socket_path(CRI_NAMESPACE, pod_id)),
                         "shim socket remains")
        self.assertEqual(harness.mounts_under(ctd.dir), [], "mounts remain")
        self.assertEqual(os.listdir(ctd.run_dir), [], f"entries remain in {ctd.run_dir}")
        self.assertEqual(ctd.tasks(), {}, "tasks remain")

    def test_failed_boot_leaves_nothing(self):
        """StartSandbox of a VM that cannot boot fails runp, names why, leaves nothing."""
        uid = uuid.uuid4().hex[:12]
        log_dir = os.path.join(ctd.dir, "pods", uid)
        os.makedirs(log_dir)
        pod = cri.write_json("badpod", crictl.host_network_pod(f"sbx-bad-{uid}", uid, log_dir))
        res = cri.run("runp", "--runtime", BROKEN, pod, check=False)
        self.assertNotEqual(res.returncode, 0, res)
        self.assertIn("no-such-vmlinux", res.stderr)
        harness.wait_for(lambda: not ctd.shims() and not ctd.qemus(), 30,
                         "the failed sandbox's shim and VM to go")
        self.assertEqual(cri.pods(), [])
        self.assertEqual(harness.mounts_under(ctd.dir), [], "mounts remain")
        self.assertEqual(os.listdir(ctd.run_dir), [], f"entries remain in {ctd.run_dir}")


if __name__ == "__main__":
    testmain.main("integration-shim-cri-sandbox-api", harness.VEIL_RUNTIME)
