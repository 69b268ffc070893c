"""Shared pieces of the `ctr` integration tests: a TestCase base with container helpers and
leak checks, a background pipe reader, and a pty runner for `ctr run -t`."""

import fcntl
import glob
import json
import os
import pty
import re
import select
import struct
import subprocess
import termios
import threading
import unittest
import uuid

import harness
import images

IMAGE = images.BUSYBOX_IMAGE
# Generous: a TCG guest boots in ~8 s; a loaded 2-core machine can take several times that.
BOOT_TIMEOUT = 180


class StreamReader(threading.Thread):
    """Collects a pipe's output in the background; wait_for_text() blocks until it shows up."""

    def __init__(self, pipe):
        super().__init__(daemon=True)
        self.pipe = pipe
        self.data = b""
        self.cond = threading.Condition()
        self.start()

    def run(self):
        for chunk in iter(lambda: os.read(self.pipe.fileno(), 65536), b""):
            with self.cond:
                self.data += chunk
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return self.data.decode(errors="replace")

    def wait_for_text(self, text, timeout):
        with self.cond:
            if not self.cond.wait_for(lambda: text.encode() in self.data, timeout):
                raise AssertionError(f"{text!r} not seen within {timeout}s; got {self.data!r}")


class CtrTestCase(unittest.TestCase):
    """Base for ctr tests: set CtrTestCase.ctd (a started harness.Containerd) in setUpModule."""

    ctd = None

    def setUp(self):
        if self.ctd is None or self.ctd.dir is None:
            self.fail("private containerd is not running")

    def new_id(self, name):
        cid = f"{name}-{uuid.uuid4().hex[:8]}"
        self.addCleanup(self.remove, cid)
        return cid

    def remove(self, cid):
        """Kills and deletes the task and container if a test left them."""
        if cid in self.ctd.tasks():
            self.ctd.ctr("task", "kill", "-a", "-s", "SIGKILL", cid, check=False)
            harness.wait_for(lambda: self.ctd.tasks().get(cid) in (None, "STOPPED"), 60,
                             f"{cid} to stop")
            self.ctd.ctr("task", "delete", "-f", cid, check=False)
        if cid in self.ctd.containers():
            self.ctd.ctr("containers", "delete", cid, check=False)

    def runtime_args(self):
        args = ["--runtime", harness.RUNTIME]
        if harness.is_veil():
            args += ["--runtime-config-path", self.ctd.veil_config]
        return args

    def run_argv(self, cid, *command, flags=()):
        return self.ctd.ctr_argv("run", *self.runtime_args(), *flags, IMAGE, cid, *command)

    def ctr_run(self, cid, *command, flags=(), **kw):
        return self.ctd.ctr("run", *self.runtime_args(), *flags, IMAGE, cid, *command,
                       timeout=BOOT_TIMEOUT, **kw)

    def run_detached(self, cid, *command):
        """Starts a detached container (no IO) and waits until it is RUNNING."""
        self.ctd.ctr("run", "-d", "--null-io", *self.runtime_args(), IMAGE, cid, *command,
                timeout=BOOT_TIMEOUT)
        harness.wait_for(lambda: self.ctd.tasks().get(cid) == "RUNNING", 30, f"{cid} RUNNING")

    def kill_and_delete(self, cid, signal="SIGKILL"):
        self.ctd.ctr("task", "kill", "-s", signal, cid)
        harness.wait_for(lambda: self.ctd.tasks().get(cid) == "STOPPED", 60, f"{cid} STOPPED")
        status = self.delete_task(cid)
        self.ctd.ctr("containers", "delete", cid)
        return status

    def delete_task(self, cid):
        """`ctr task delete`; returns the exit status it reports (ctr 1.6 logs a warning
        "task X exit with non-zero exit code N" and exits 0)."""
        res = self.ctd.ctr("task", "delete", cid)
        found = re.search(r"exit with non-zero exit code (\d+)", res.stderr)
        return int(found.group(1)) if found else 0

    def shim_address(self, cid):
        """The task's shim address: the bundle's `address` (veil's shim, and every shim under
        containerd 1.x) or containerd 2.x's own record of the start result, bootstrap.json."""
        bundle = os.path.join(self.ctd.bundle_root, self.ctd.namespace, cid)
        try:
            with open(os.path.join(bundle, "address")) as f:
                return f.read().strip()
        except FileNotFoundError:
            with open(os.path.join(bundle, "bootstrap.json")) as f:
                return json.load(f)["address"]

    def assert_nothing_left(self, cid, extra_sockets=()):
        """No shim, VM, shim socket, mount, bundle, fifo or run-dir entry of ours remains."""
        # The shim may still be exiting when ctr returns: give it a few seconds, not forever.
        gone = lambda: not self.ctd.shims() and not self.ctd.qemus()  # noqa: E731
        try:
            harness.wait_for(gone, 10, "shim and QEMU processes to exit")
        except AssertionError:
            pass
        self.assertEqual(self.ctd.shims(), [], "shim processes remain")
        self.assertEqual(self.ctd.qemus(), [], "QEMU processes remain")
        for sock in (self.ctd.shim_socket_path(self.ctd.namespace, cid),) + tuple(
                extra_sockets):
            self.assertFalse(os.path.exists(sock), f"shim socket {sock} remains")
        self.assertEqual(harness.mounts_under(self.ctd.dir), [], "mounts remain")
        bundle = os.path.join(self.ctd.bundle_root, self.ctd.namespace, cid)
        self.assertFalse(os.path.exists(bundle), f"bundle {bundle} remains")
        fifos = glob.glob(os.path.join(harness.CTR_FIFO_DIR, "*", glob.escape(cid) + "-*"))
        self.assertEqual(fifos, [], "fifos remain")
        self.assertEqual(os.listdir(self.ctd.run_dir), [], f"entries remain in {self.ctd.run_dir}")
        self.assertNotIn(cid, self.ctd.tasks())
        self.assertNotIn(cid, self.ctd.containers())


def wait_until_quiet(reader, quiet_for, timeout):
    """True once `reader` got no new output for `quiet_for` seconds (within `timeout`)."""
    waited = 0.0
    while waited < timeout:
        before = reader.text()
        threading.Event().wait(quiet_for)
        waited += quiet_for
        if reader.text() == before:
            return True
    return False


def run_in_pty(argv, rows, cols, timeout):
    """Runs argv with a pseudo-terminal as its controlling tty and stdio (ctr -t needs one);
    returns (output decoded, exit status)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def make_controlling_tty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=make_controlling_tty, close_fds=True)
    os.close(slave)
    chunks = []
    try:
        deadline = threading.Event()
        timer = threading.Timer(timeout, deadline.set)
        timer.start()
        while not deadline.is_set():
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every slave fd is closed
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
        timer.cancel()
        if deadline.is_set():
            raise AssertionError(f"{argv} did not finish within {timeout}s: {b''.join(chunks)!r}")
        return b"".join(chunks).decode(errors="replace"), proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
