#!/usr/bin/python3
"""The Kubernetes CRI path: a pod (pause sandbox + two app containers) through containerd's CRI
plugin with the runtime handler for VEIL_TEST_RUNTIME (`veil`, or `runc` for comparison):
RunPodSandbox -> CreateContainer -> StartContainer -> ExecSync -> StopContainer ->
RemoveContainer -> StopPodSandbox -> RemovePodSandbox. With veil the whole pod is one VM: one
shim, one QEMU, one guest kernel shared by both containers.
"""

import os
import sys
import unittest
import uuid

import grpc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cri  # noqa: E402
import harness  # noqa: E402
import images  # noqa: E402
import testmain  # noqa: E402

RUNTIME = harness.RUNTIME
VEIL = harness.is_veil()
HANDLER = "veil" if VEIL else "runc"
CRI_NAMESPACE = "k8s.io"

ctd = None
client = None


def setUpModule():
    global ctd, client
    harness.require_runtime_binaries()
    ctd = harness.Containerd(namespace=CRI_NAMESPACE)
    ctd.start()
    client = cri.CriClient(ctd.address, ctd.dir)
    # Images imported with ctr reach CRI's image cache through containerd's events.
    for ref in (images.PAUSE_IMAGE, images.BUSYBOX_IMAGE):
        harness.wait_for(lambda: client.images.ImageStatus(
            image=client.pb.ImageSpec(image=ref)).image.id, 30, f"CRI to see {ref}")


def tearDownModule():
    if client is not None:
        client.close()
    if ctd is not None:
        ctd.stop()


def boot_id():
    with open("/proc/sys/kernel/random/boot_id") as f:
        return f.read().strip()


class CriPodTests(unittest.TestCase):
    def setUp(self):
        self.rt = client.runtime
        self.pb = client.pb

    def remove_pod(self, pod_id):
        """Cleanup if the test stopped half-way (StopPodSandbox stops its containers)."""
        try:
            self.rt.StopPodSandbox(pod_sandbox_id=pod_id)
            self.rt.RemovePodSandbox(pod_sandbox_id=pod_id)
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.NOT_FOUND:  # already gone is fine
                print(f"cleanup of pod {pod_id}: {e}", file=sys.stderr)

    def test_version(self):
        v = self.rt.Version(version="v1")
        self.assertEqual(v.runtime_name, "containerd")
        self.assertEqual(v.runtime_api_version, "v1")

    def test_pod_lifecycle_in_one_sandbox(self):
        uid = uuid.uuid4().hex[:12]
        log_dir = os.path.join(ctd.dir, "pods", uid)
        os.makedirs(log_dir)
        pod_config = client.host_network_pod(f"pod-{uid}", uid, log_dir)
        pod_id = self.rt.RunPodSandbox(config=pod_config, runtime_handler=HANDLER).pod_sandbox_id
        self.addCleanup(self.remove_pod, pod_id)
        status = self.rt.PodSandboxStatus(pod_sandbox_id=pod_id).status
        self.assertEqual(status.state, self.pb.SANDBOX_READY)
        self.assertEqual(status.runtime_handler, HANDLER)
        listed = [p.id for p in self.rt.ListPodSandbox().items]
        self.assertIn(pod_id, listed)

        containers = []
        for name in ("app1", "app2"):
            config = client.container(name, images.BUSYBOX_IMAGE,
                                      ["sh", "-c", f"echo {name}-started; exec sleep 3600"],
                                      f"{name}.log")
            cid = self.rt.CreateContainer(pod_sandbox_id=pod_id, config=config,
                                          sandbox_config=pod_config).container_id
            self.assertEqual(self.rt.ContainerStatus(container_id=cid).status.state,
                             self.pb.CONTAINER_CREATED)
            self.rt.StartContainer(container_id=cid)
            self.assertEqual(self.rt.ContainerStatus(container_id=cid).status.state,
                             self.pb.CONTAINER_RUNNING)
            containers.append(cid)

        # The pod is one sandbox: one shim (and with veil one VM) for pause + both apps.
        self.assertEqual(len(ctd.shims()), 1, "expected one shim for the whole pod")
        if VEIL:
            self.assertEqual(len(ctd.qemus()), 1, "expected exactly one QEMU for the whole pod")
        else:
            self.assertEqual(ctd.qemus(), [])

        res = self.rt.ExecSync(container_id=containers[0], timeout=120,
                               cmd=["sh", "-c", "echo out; echo err >&2; uname -r; exit 3"])
        self.assertEqual(res.exit_code, 3)
        lines = res.stdout.decode().split()
        self.assertEqual(lines[0], "out")
        self.assertEqual(res.stderr.decode().strip(), "err")
        if VEIL:
            self.assertNotEqual(lines[1], os.uname().release, "ran on the host kernel")
        else:
            self.assertEqual(lines[1], os.uname().release)

        ids = [self.rt.ExecSync(container_id=cid, timeout=120,
                                cmd=["cat", "/proc/sys/kernel/random/boot_id"]).stdout.strip()
               for cid in containers]
        self.assertEqual(ids[0], ids[1], "the pod's containers run on different kernels")
        if VEIL:
            self.assertNotEqual(ids[0].decode(), boot_id(), "the pod runs on the host kernel")

        # stdout reached CRI's container log (CRI log format: "<time> stdout F <line>").
        for name in ("app1", "app2"):
            path = os.path.join(log_dir, f"{name}.log")
            harness.wait_for(lambda: os.path.exists(path) and
                             f"stdout F {name}-started" in open(path).read(), 30,
                             f"{name}'s output in {path}")

        # containerd 1.6's CRI reports this stop as SIGKILL (137, reason "Error") with runc
        # and veil alike.
        self.rt.StopContainer(container_id=containers[0], timeout=2)
        status = self.rt.ContainerStatus(container_id=containers[0]).status
        self.assertEqual(status.state, self.pb.CONTAINER_EXITED)
        self.assertEqual(status.exit_code, 137)
        self.rt.RemoveContainer(container_id=containers[0])
        self.assertEqual(self.rt.ContainerStatus(container_id=containers[1]).status.state,
                         self.pb.CONTAINER_RUNNING, "removing one container hurt the other")
        if VEIL:
            self.assertEqual(len(ctd.qemus()), 1, "the VM must live while the pod lives")

        self.rt.StopPodSandbox(pod_sandbox_id=pod_id)
        self.assertEqual(self.rt.PodSandboxStatus(pod_sandbox_id=pod_id).status.state,
                         self.pb.SANDBOX_NOTREADY)
        self.assertEqual(self.rt.ContainerStatus(container_id=containers[1]).status.state,
                         self.pb.CONTAINER_EXITED)
        self.rt.RemoveContainer(container_id=containers[1])
        self.rt.RemovePodSandbox(pod_sandbox_id=pod_id)
        self.assertNotIn(pod_id, [p.id for p in self.rt.ListPodSandbox().items])

        harness.wait_for(lambda: not ctd.shims() and not ctd.qemus(), 20,
                         "the pod's shim and VM to exit")
        self.assertFalse(os.path.exists(
            harness.shim_socket_path(ctd.address, CRI_NAMESPACE, pod_id)), "shim socket remains")
        self.assertEqual(harness.mounts_under(ctd.dir), [], "mounts remain")
        self.assertEqual(os.listdir(ctd.run_dir), [], f"entries remain in {ctd.run_dir}")
        self.assertEqual(ctd.tasks(), {}, "tasks remain")


if __name__ == "__main__":
    testmain.main("integration-shim-cri", RUNTIME)
