#!/usr/bin/python3
"""Faults through containerd: a sandbox that cannot start, a sandbox that dies under a running
container, containerd restarting under a running container, an invalid OCI spec. After each,
`ctr` must report it, the task must be deletable and nothing may be left behind.

The sandbox is the VM with veil (bad kernel/initrd, `kill -9` of QEMU) and the container's
processes with runc (a failing runc binary, `kill -9` of the container's init), so the same
tests run against both runtimes (VEIL_TEST_RUNTIME).
"""

import json
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import testmain  # noqa: E402
from ctrtest import BOOT_TIMEOUT, IMAGE, CtrTestCase  # noqa: E402

RUNTIME = harness.RUNTIME
VEIL = harness.is_veil()
ctd = None


def setUpModule():
    global ctd
    harness.require_runtime_binaries()
    ctd = harness.Containerd(namespace="veilfault")
    ctd.start()
    CtrTestCase.ctd = ctd


def tearDownModule():
    if ctd is not None:
        ctd.stop()


class FaultTests(CtrTestCase):
    def bad_config(self, name, **overrides):
        """A copy of the test runtime config with `overrides` (veil) in the temp dir."""
        with open(ctd.veil_config) as f:
            config = json.load(f)
        config.update(overrides)
        path = os.path.join(ctd.dir, f"bad-{name}.json")
        with open(path, "w") as f:
            json.dump(config, f)
        return path

    def run_failing(self, cid, extra_args, *command, image=IMAGE):
        """`ctr run --rm` that must fail: returns ctr's combined output."""
        res = ctd.ctr("run", "--rm", "--runtime", RUNTIME, *extra_args,
                      *([image] if image else []), cid, *command,
                      check=False, timeout=BOOT_TIMEOUT)
        self.assertNotEqual(res.returncode, 0, f"ctr run succeeded: {res}")
        if os.environ.get("VEIL_TEST_VERBOSE") == "1":
            print(f"\n  ctr run {cid} failed as expected: {res.stderr.strip()}", file=sys.stderr)
        return res.stdout + res.stderr

    def junk_file(self, name, size=4096):
        path = os.path.join(ctd.dir, name)
        with open(path, "wb") as f:
            f.write(b"this is not a kernel\n" * (size // 21))
        return path

    def test_sandbox_that_cannot_start_fails_cleanly(self):
        cid = self.new_id("noboot")
        if VEIL:
            junk = self.junk_file("junk-kernel")
            output = self.run_failing(cid, ["--runtime-config-path",
                                            self.bad_config("kernel", kernel=junk)], "true")
            # The reason names what failed: the kernel file or QEMU's own complaint.
            self.assertTrue(junk in output or "qemu" in output.lower(),
                            f"the error does not say why the VM did not boot: {output}")
        else:
            output = self.run_failing(cid, ["--runc-binary", "/bin/false"], "true")
        self.assertIn("failed", output.lower())
        self.assert_nothing_left(cid)

    def test_missing_sandbox_binary_is_named(self):
        cid = self.new_id("missing")
        missing = os.path.join(ctd.dir, "no-such-vmlinuz" if VEIL else "no-such-runc")
        if VEIL:
            args = ["--runtime-config-path", self.bad_config("missing", kernel=missing)]
        else:
            args = ["--runc-binary", missing]
        output = self.run_failing(cid, args, "true")
        self.assertIn(missing, output, "the error does not name the missing file")
        self.assert_nothing_left(cid)

    def test_guest_that_never_starts_its_agent_fails_cleanly(self):
        cid = self.new_id("noagent")
        if VEIL:
            # A real kernel with a garbage initrd panics before any agent runs.
            junk = self.junk_file("junk-initrd", 64 * 1024)
            output = self.run_failing(cid, ["--runtime-config-path",
                                            self.bad_config("initrd", initrd=junk,
                                                            dial_timeout_s=30)], "true")
        else:
            output = self.run_failing(cid, [], "/no/such/binary")
        self.assertIn("failed", output.lower())
        self.assert_nothing_left(cid)

    def test_sandbox_killed_under_running_container(self):
        cid = self.new_id("killed")
        self.run_detached(cid, "sleep", "3600")
        shims = ctd.shims()
        self.assertEqual(len(shims), 1)
        if VEIL:
            victims = ctd.qemus()
            self.assertEqual(len(victims), 1)
        else:
            victims = [int(ctd.ctr("task", "ls").stdout.splitlines()[1].split()[1])]
        harness.kill_pids(victims, signal.SIGKILL)
        harness.wait_for(lambda: ctd.tasks().get(cid) == "STOPPED", 60,
                         "the task to be reported STOPPED after its sandbox died")
        self.delete_task(cid)
        ctd.ctr("containers", "delete", cid)
        harness.wait_for(lambda: not ctd.shims(), 30, "the shim to exit")
        self.assert_nothing_left(cid)

    def test_containerd_restart_keeps_running_container(self):
        cid = self.new_id("restart")
        self.run_detached(cid, "sleep", "3600")
        shims, vms = ctd.shims(), ctd.qemus()
        ctd.stop_daemon()
        self.assertEqual(ctd.shims(), shims, "the shim died with containerd")
        self.assertEqual(ctd.qemus(), vms, "the VM died with containerd")
        ctd.start_daemon()
        harness.wait_for(lambda: ctd.tasks().get(cid) == "RUNNING", 60,
                         "the task to be listed RUNNING after the restart")
        res = ctd.ctr("task", "exec", "--exec-id", "after", cid, "sh", "-c", "echo alive")
        self.assertEqual(res.stdout.strip(), "alive")
        self.assertEqual(self.kill_and_delete(cid), 137)
        harness.wait_for(lambda: not ctd.shims(), 30, "the shim to exit")
        self.assert_nothing_left(cid)

    def test_invalid_spec_is_rejected_and_leaves_nothing(self):
        cid = self.new_id("badspec")
        spec = json.loads(ctd.ctr("oci", "spec").stdout)
        rootfs = os.path.join(ctd.dir, "badspec-rootfs")
        os.makedirs(rootfs, exist_ok=True)
        spec["root"] = {"path": rootfs, "readonly": False}
        spec["process"]["args"] = []  # an OCI process needs at least one argument
        path = os.path.join(ctd.dir, "bad-spec.json")
        with open(path, "w") as f:
            json.dump(spec, f)
        extra = ["--config", path]
        if VEIL:
            extra += ["--runtime-config-path", ctd.veil_config]
        output = self.run_failing(cid, extra, image=None)
        self.assertIn("arg", output.lower(), "the error does not say the args are wrong")
        self.assert_nothing_left(cid)


if __name__ == "__main__":
    testmain.main("integration-shim-faults", RUNTIME)
