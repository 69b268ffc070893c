"""A network namespace for one test, so nothing it starts touches the machine's interfaces.

`NetNS(name)` creates /run/netns/<name> (`ip netns add`, loopback up) and moves this process
into it with setns(2) (`ip netns exec` would remount /sys and hide the cgroup mounts): every
process the test starts afterwards (registry, containerd, shims, CNI plugins, critest) lives
in it. Leaving the context moves back and deletes the namespace.
"""

import ctypes
import os
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET): {os.strerror(err)}")


class NetNS:
    def __init__(self, name):
        self.name = name
        self.path = f"/run/netns/{name}"
        self._home = None

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True, capture_output=True)
        try:
            subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True,
                           capture_output=True)
            self._home = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(fd)
            finally:
                os.close(fd)
        except BaseException:
            self._leave()
            raise
        return self

    def _leave(self):
        if self._home is not None:
            _setns(self._home)
            os.close(self._home)
            self._home = None
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)

    def __exit__(self, *exc):
        self._leave()
