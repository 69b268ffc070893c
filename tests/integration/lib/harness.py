"""A private containerd per test run, plus helpers to observe what a runtime leaves behind.

Everything containerd owns (root, state, grpc and ttrpc sockets, CNI dirs, the veil run dir and
the generated dev config; with 2.3+ also the shim sockets) lives in one fresh temp dir, so a run
never collides with another run or with a system containerd. `Containerd` is a context manager;
`stop()` also runs from signal handlers and atexit, removes every container it can, kills what
is left, unmounts and deletes the temp dir. On failure the tail of containerd's log is printed.

The containerd series (1.6 = Debian 12's, 1.7, 2.3, 2.4; see tools.py) decides the binaries
(containerd, ctr, and containerd-shim-runc-v2 of the same build first on containerd's PATH) and
the config: `version = 2` with the `io.containerd.grpc.v1.cri` plugin for 1.x, `version = 3`
with `io.containerd.cri.v1.runtime` / `io.containerd.cri.v1.images` for 2.x.

Environment:
  VEIL_CONTAINERD     containerd series: 1.6 (default), 1.7, 2.3, 2.4
  VEIL_TEST_RUNTIME   runtime for ctr/CRI (default io.containerd.veil.v2;
                      io.containerd.runc.v2 to compare against runc)
  VEIL_BUILD_ROOT     meson build dir (default <source>/build); the shim is <build>/shim/
  VEIL_SOURCE_ROOT    source dir (default: derived from this file)
  VEIL_GUEST_DIR      dir with vmlinux and initrd.img (default <build>/guest)
  VEIL_TEST_DEBUG=1   the runtime config's "debug": true
  VEIL_TEST_KEEP=1    keep the temp dir after the run (for debugging)
"""

import atexit
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

LIB_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("VEIL_SOURCE_ROOT") or os.path.normpath(
    os.path.join(LIB_DIR, "..", "..", ".."))
BUILD_ROOT = os.environ.get("VEIL_BUILD_ROOT") or os.path.join(SOURCE_ROOT, "build")
sys.path.insert(0, LIB_DIR)

import images  # noqa: E402  (after the sys.path tweak)
import tools  # noqa: E402

VEIL_RUNTIME = "io.containerd.veil.v2"
RUNC_RUNTIME = "io.containerd.runc.v2"
RUNTIME = os.environ.get("VEIL_TEST_RUNTIME", VEIL_RUNTIME)
SHIM_SOCKET_DIR = "/run/containerd/s"  # shim sockets up to containerd 2.2, whatever the state dir
CTR_FIFO_DIR = "/run/containerd/fifo"  # ctr's default fifo dir


def is_veil(runtime=None):
    return (runtime or RUNTIME) == VEIL_RUNTIME


def shim_binary_dir():
    return os.path.join(BUILD_ROOT, "shim")


def shim_binary():
    return os.path.join(shim_binary_dir(), "containerd-shim-veil-v2")


def guest_image():
    guest_dir = os.environ.get("VEIL_GUEST_DIR") or os.path.join(BUILD_ROOT, "guest")
    # The dev profile boots the uncompressed kernel: under TCG that skips ~2.5 s of
    # decompression (docs/guest.md); TEE profiles boot vmlinuz through OVMF.
    return (os.path.join(guest_dir, "vmlinux"), os.path.join(guest_dir, "initrd.img"))


def require_runtime_binaries(runtime=None, series=None):
    """Fails (never skips) when what the runtime or the containerd series needs is missing."""
    missing = []
    if is_veil(runtime):
        for path in (shim_binary(),) + guest_image():
            if not os.path.exists(path):
                missing.append(f"{path} (build with `ninja -C {BUILD_ROOT}`)")
    missing += tools.missing_containerd(series or tools.containerd_series())
    if missing:
        raise RuntimeError("missing: " + ", ".join(missing))


# ---------------------------------------------------------------------------------------------
# Processes and mounts

def processes():
    """Yields (pid, argv) of every live process (zombies and kernel threads skipped)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            continue
        if raw:
            yield int(entry), [a.decode(errors="replace") for a in raw.rstrip(b"\0").split(b"\0")]


def shim_pids(address):
    """containerd shims started for the containerd listening on `address`."""
    pids = []
    for pid, argv in processes():
        if not os.path.basename(argv[0]).startswith("containerd-shim"):
            continue
        for i, arg in enumerate(argv[:-1]):
            if arg in ("-address", "--address") and argv[i + 1] == address:
                pids.append(pid)
                break
    return sorted(pids)


def qemu_pids(marker):
    """QEMU processes whose command line mentions `marker` (our private veil run dir)."""
    return sorted(pid for pid, argv in processes()
                  if "qemu-system" in os.path.basename(argv[0]) and any(marker in a for a in argv))


def mounts_under(prefix):
    """Mount points (from /proc/self/mountinfo) at or below `prefix`."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix.rstrip("/") + "/"):
                found.append(point)
    return found


def shim_socket_path(address, namespace, group_id, socket_dir=SHIM_SOCKET_DIR):
    """The shim socket for (address, namespace, id): pkg/shim CreateSocketAddress."""
    digest = hashlib.sha256(os.path.join(address, namespace, group_id).encode()).hexdigest()
    return os.path.join(socket_dir, digest)


def wait_for(predicate, timeout, what, interval=0.1):
    """Polls `predicate` until it returns a truthy value; raises AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


# ---------------------------------------------------------------------------------------------
# Configs

def pause_binary(work_dir):
    """The static pause binary: built by meson, else compiled here (the demo on a bare tree)."""
    built = os.path.join(BUILD_ROOT, "tests", "integration", "shim", "veil-pause")
    if os.access(built, os.X_OK):
        return built
    out = os.path.join(work_dir, "veil-pause")
    subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O2", "-static", "-o", out,
                    os.path.join(LIB_DIR, "pause.c")], check=True)
    return out


def dev_config(path, run_dir):
    """Writes the veil dev-profile runtime config used by the tests: the repo's
    configs/dev.json with the guest image from this build and a private run dir."""
    base_path = os.path.join(SOURCE_ROOT, "configs", "dev.json")
    if os.path.exists(base_path):
        with open(base_path) as f:
            config = json.load(f)
    else:
        config = {"profile": "dev", "backend": "qemu", "accel": "tcg", "vcpus": 1,
                  "memory_mb": 512, "shared_fs": "9p"}
    kernel, initrd = guest_image()
    config.update({"kernel": kernel, "initrd": initrd, "run_dir": run_dir})
    # No /dev/vhost-vsock here: the vsock channel is hybrid vsock through the
    # vhost-device-vsock that scripts/fetch-vhost-device-vsock cached (tests/meson.build).
    helper = os.environ.get("VEIL_VHOST_USER_VSOCK")
    if helper:
        config["vhost_user_vsock_path"] = helper
    # The channel (VEIL_AGENT_CHANNEL, default virtio-serial, set explicitly): vhost-device-vsock
    # 0.3.0 stalls a connection for good under bulk transfers (1 MB of exec output to a slow
    # reader, 256 KiB of stdin: rust-vmm/vhost-device#494), so the containerd suites run on
    # virtio-serial and shim-ctr-hybrid-vsock runs the control-path cases on hybrid vsock
    # (docs/hypervisor.md, "Agent channel").
    config["agent_channel"] = os.environ.get("VEIL_AGENT_CHANNEL", "virtio-serial")
    if os.environ.get("VEIL_TEST_DEBUG") == "1":
        config["debug"] = True
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    return path


# 2.x: veil with `sandboxer = "shim"` (not veil-*: packaging/install.sh owns those names)
SANDBOX_API_HANDLER = "sandbox-api"


def is_v2_series(series):
    return series.startswith("2.")


def has_socket_dir(series):
    """containerd 2.3+ lets the shim manager put shim sockets in a configured directory."""
    return series in ("2.3", "2.4")


_DISABLED_PLUGINS = """disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
                    "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.tracing.processor.v1.otlp"]"""


def _common_config(d, version):
    # Version 4 (containerd 2.3+) moved the server settings into their plugins.
    servers = f"""
[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"
""" if version < 4 else f"""
[plugins."io.containerd.server.v1.grpc"]
  address = "{d}/containerd.sock"

[plugins."io.containerd.server.v1.ttrpc"]
  address = "{d}/containerd.sock.ttrpc"
"""
    return f"""version = {version}
root = "{d}/root"
state = "{d}/state"
{_DISABLED_PLUGINS}
{servers}
[debug]
  level = "debug"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"""


def _runtimes(prefix, d, veil_config, containerd_keys=""):
    """The runtimes `runc` (its root in the temp dir) and `veil` under plugin `prefix`."""
    return f"""
[{prefix}.containerd]
  default_runtime_name = "runc"{containerd_keys}

[{prefix}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{prefix}.containerd.runtimes.runc.options]
  Root = "{d}/runc"

[{prefix}.containerd.runtimes.veil]
  runtime_type = "io.containerd.veil.v2"
  pod_annotations = ["io.katacontainers.*"]
  privileged_without_host_devices = true

[{prefix}.containerd.runtimes.veil.options]
  ConfigPath = "{veil_config}"
"""


def containerd_config(d, veil_config, series="1.6", cni_bin_dir=None, registry_config_path=None,
                      config_version=None, sandbox_image=images.PAUSE_IMAGE):
    """containerd's config for `series` with everything under the temp dir `d`: CNI plugins in
    `cni_bin_dir` (default an empty <d>/cni/bin: pods use the host network), registry hosts
    from `registry_config_path` (hosts.toml dirs, for a local mirror). `config_version` 4
    (2.3+) instead of 3 for 2.x. `sandbox_image` is the pause image (default the imported
    local one)."""
    cni_bin = cni_bin_dir or f"{d}/cni/bin"
    if not is_v2_series(series):
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        registry = (f'\n[{cri}.registry]\n  config_path = "{registry_config_path}"\n'
                    if registry_config_path else "")
        return _common_config(d, 2) + f"""
[{cri}]
  sandbox_image = "{sandbox_image}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false

[{cri}.cni]
  bin_dir = "{cni_bin}"
  conf_dir = "{d}/cni/conf"
""" + registry + _runtimes(cri, d, veil_config, '\n  snapshotter = "overlayfs"')
    runtime = 'plugins."io.containerd.cri.v1.runtime"'
    imgs = 'plugins."io.containerd.cri.v1.images"'
    registry = (f'\n[{imgs}.registry]\n  config_path = "{registry_config_path}"\n'
                if registry_config_path else "")
    # 2.3+: shim sockets in the temp dir too (the shim manager's socket_dir, <= 42 bytes).
    socket_dir = (f'\n[plugins."io.containerd.shim.v1.manager"]\n  socket_dir = "{d}/s"\n'
                  if has_socket_dir(series) else "")
    return _common_config(d, config_version or 3) + socket_dir + f"""
# NRI's socket is machine-wide (/var/run/nri/nri.sock): private containerds must not share it.
[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

[{imgs}]
  snapshotter = "overlayfs"

[{imgs}.pinned_images]
  sandbox = "{sandbox_image}"
""" + registry + f"""
[{runtime}]
  restrict_oom_score_adj = true
  enable_selinux = false

[{runtime}.cni]
  bin_dirs = ["{cni_bin}"]
  conf_dir = "{d}/cni/conf"
""" + _runtimes(runtime, d, veil_config) + f"""
# The same runtime with containerd's shim sandboxer: the Sandbox API, no pause container.
[{runtime}.containerd.runtimes.{SANDBOX_API_HANDLER}]
  runtime_type = "io.containerd.veil.v2"
  sandboxer = "shim"
  pod_annotations = ["io.katacontainers.*"]
  privileged_without_host_devices = true

[{runtime}.containerd.runtimes.{SANDBOX_API_HANDLER}.options]
  ConfigPath = "{veil_config}"
"""


# ---------------------------------------------------------------------------------------------
# containerd

_live = []  # running Containerd instances, stopped by atexit/signal handlers
_test_failed = False  # set by testmain when a test fails: print containerd's log at stop


def mark_test_failed():
    global _test_failed
    _test_failed = True


def _stop_all(*_):
    while _live:
        _live[-1].stop()


def _on_signal(signum, _frame):
    _stop_all()
    sys.exit(128 + signum)


atexit.register(_stop_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, _on_signal)


class CtrError(AssertionError):
    pass


class Containerd:
    """A private containerd of `series` (default $VEIL_CONTAINERD): start(), ctr(...), import
    images, stop(). `config_options` go to containerd_config (cni_bin_dir,
    registry_config_path)."""

    def __init__(self, namespace="veiltest", import_images=True, series=None, configure=None,
                 **config_options):
        """`configure(self)` runs after the config is written, before containerd starts."""
        self.namespace = namespace
        self.configure = configure
        self.import_images = import_images
        self.series = series or tools.containerd_series()
        self.bin_dir = tools.containerd_dir(self.series)
        self.config_options = config_options
        self.dir = None
        self.proc = None
        self.failed = False

    @property
    def containerd_binary(self):
        return os.path.join(self.bin_dir, "containerd")

    @property
    def ctr_binary(self):
        return os.path.join(self.bin_dir, "ctr")

    @property
    def socket_dir(self):
        """Where this containerd's shims put their sockets."""
        return os.path.join(self.dir, "s") if has_socket_dir(self.series) else SHIM_SOCKET_DIR

    def shim_socket_path(self, namespace, group_id):
        return shim_socket_path(self.address, namespace, group_id, self.socket_dir)

    # paths
    @property
    def address(self):
        return os.path.join(self.dir, "containerd.sock")

    @property
    def log_path(self):
        return os.path.join(self.dir, "containerd.log")

    @property
    def run_dir(self):
        """veil's run dir (QMP/agent sockets, 9p share) for this containerd's sandboxes."""
        return os.path.join(self.dir, "veil-run")

    @property
    def agent_request_log(self):
        """Every request the shims send to guest agents, one JSON line each."""
        return os.path.join(self.dir, "agent-requests.jsonl")

    @property
    def veil_config(self):
        return os.path.join(self.dir, "veil-dev.json")

    @property
    def bundle_root(self):
        return os.path.join(self.dir, "state", "io.containerd.runtime.v2.task")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.failed = True
        self.stop()

    def start(self):
        # Short path: shim and QEMU socket paths must stay below 108 bytes.
        self.dir = tempfile.mkdtemp(prefix="veil-ctd-", dir="/tmp")
        _live.append(self)
        try:
            self._start()
        except BaseException:
            self.failed = True
            self.stop()
            raise

    def _start(self):
        for sub in ("root", "state", "opt", "cni/bin", "cni/conf", "runc", "images", "s"):
            os.makedirs(os.path.join(self.dir, sub))
        os.makedirs(self.run_dir, mode=0o700)
        dev_config(self.veil_config, self.run_dir)
        with open(self.config_path, "w") as f:
            f.write(containerd_config(self.dir, self.veil_config, self.series,
                                      **self.config_options))
        if self.configure:
            self.configure(self)
        self.start_daemon()
        if self.import_images:
            self.import_test_images(self.namespace)

    @property
    def config_path(self):
        return os.path.join(self.dir, "config.toml")

    def start_daemon(self):
        """Starts containerd on the existing dir and waits until it answers."""
        env = dict(os.environ)
        # containerd resolves io.containerd.veil.v2 to containerd-shim-veil-v2 on its PATH, and
        # io.containerd.runc.v2 to the runc shim built with this containerd.
        env["PATH"] = ":".join((shim_binary_dir(), self.bin_dir,
                                env.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")))
        env["VEIL_CONFIG"] = self.veil_config
        env["VEIL_AGENT_REQUEST_LOG"] = self.agent_request_log
        env.pop("CONTAINERD_ADDRESS", None)
        env.pop("CONTAINERD_NAMESPACE", None)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.containerd_binary, "--config", self.config_path],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"containerd {self.series} exited with {self.proc.returncode} "
                                   f"at start:\n{self.log_tail(20)}")
            if os.path.exists(self.address) and self.ctr("version", check=False,
                                                         timeout=10).returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("containerd did not answer on its socket within 30s")
            time.sleep(0.1)

    def stop_daemon(self):
        """Stops only the containerd process (SIGTERM): shims and VMs keep running."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def build_images(self):
        out = os.path.join(self.dir, "images")
        if not os.path.exists(os.path.join(out, "pause.oci.tar")):
            images.build_busybox(out)
            images.build_pause(out, pause_binary(self.dir))
        return (os.path.join(out, "busybox.oci.tar"), os.path.join(out, "pause.oci.tar"))

    def import_test_images(self, namespace):
        for tar in self.build_images():
            self.ctr("images", "import", tar, namespace=namespace, timeout=120)

    def ctr(self, *args, namespace=None, check=True, timeout=120, input=None, stdin=None):
        """Runs `ctr -a <ours> -n <ns> args...`; returns the CompletedProcess (text)."""
        argv = self.ctr_argv(*args, namespace=namespace)
        kwargs = {"input": input} if input is not None else {
            "stdin": stdin if stdin is not None else subprocess.DEVNULL}
        try:
            res = subprocess.run(argv, capture_output=True, timeout=timeout,
                                 text=not isinstance(input, bytes), **kwargs)
        except subprocess.TimeoutExpired as e:
            raise CtrError(f"`{' '.join(argv)}` did not finish within {timeout}s; "
                           f"stdout={e.stdout!r} stderr={e.stderr!r}") from None
        if check and res.returncode != 0:
            raise CtrError(f"`{' '.join(argv)}` exited {res.returncode}: "
                           f"stdout={res.stdout!r} stderr={res.stderr!r}")
        return res

    def ctr_argv(self, *args, namespace=None):
        return [self.ctr_binary, "-a", self.address, "-n", namespace or self.namespace] + list(args)

    def tasks(self, namespace=None):
        """{container id: status} from `ctr task ls`."""
        out = self.ctr("task", "ls", namespace=namespace).stdout.splitlines()
        result = {}
        for line in out[1:]:
            fields = line.split()
            if len(fields) >= 3:
                result[fields[0]] = fields[2]
        return result

    def containers(self, namespace=None):
        return self.ctr("containers", "ls", "-q", namespace=namespace).stdout.split()

    def shims(self):
        return shim_pids(self.address)

    def qemus(self):
        return qemu_pids(self.run_dir)

    def log_tail(self, lines=60):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(line if len(line) < 500 else line[:500] + "...\n"
                               for line in f.readlines()[-lines:])
        except OSError:
            return "(no containerd log)"

    # teardown --------------------------------------------------------------------------------

    def remove_cri_pods(self):
        """Best effort: stop and remove every CRI pod, so containerd also tears down its
        network namespace and CNI state (ctr alone would leave /run/netns/cni-* behind)."""
        try:
            import crictl
            cri = crictl.Crictl(self)
        except RuntimeError:  # crictl not built: nothing created CRI pods through it
            return
        for pod in cri.run("pods", "-q", check=False, timeout=30).stdout.split():
            cri.run("stopp", pod, check=False, timeout=120)
            cri.run("rmp", "-f", pod, check=False, timeout=120)

    def remove_everything(self):
        """Best effort: remove every CRI pod, then kill and delete every task and container in
        every namespace."""
        if self.proc is None or self.proc.poll() is not None:
            return
        if "k8s.io" in self.ctr("namespaces", "ls", "-q", check=False, timeout=20).stdout.split():
            self.remove_cri_pods()
        namespaces = self.ctr("namespaces", "ls", "-q", check=False, timeout=20).stdout.split()
        for ns in namespaces:
            for cid in self.ctr("task", "ls", "-q", namespace=ns, check=False,
                                timeout=20).stdout.split():
                self.ctr("task", "kill", "-a", "-s", "SIGKILL", cid, namespace=ns, check=False,
                         timeout=20)
            for cid in self.ctr("task", "ls", "-q", namespace=ns, check=False,
                                timeout=20).stdout.split():
                self.ctr("task", "delete", "-f", cid, namespace=ns, check=False, timeout=30)
            for cid in self.ctr("containers", "ls", "-q", namespace=ns, check=False,
                                timeout=20).stdout.split():
                self.ctr("containers", "delete", cid, namespace=ns, check=False, timeout=30)

    def stop(self):
        if self in _live:
            _live.remove(self)
        if self.dir is None:
            return
        leftovers = []
        try:
            self.remove_everything()
        except Exception as e:  # keep tearing down
            leftovers.append(f"removing containers: {e}")
        # containerd may still be finishing a deletion (the CRI removes a pod's sandbox task
        # from its event loop, then tells the shim to shut down): let it, before stopping it.
        deadline = time.monotonic() + 10
        while (self.proc is not None and self.proc.poll() is None and shim_pids(self.address)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        self.stop_daemon()
        # Shims exit shortly after their last container is deleted: give them a moment.
        deadline = time.monotonic() + 5
        while (shim_pids(self.address) or qemu_pids(self.run_dir)) and time.monotonic() < deadline:
            time.sleep(0.05)
        # What the runtime left behind: shims of this containerd, VMs in our run dir.
        for what, pids in (("shim", shim_pids(self.address)), ("qemu", qemu_pids(self.run_dir))):
            if pids:
                leftovers.append(f"{what} pids {pids}")
                kill_pids(pids)
        for point in sorted(mounts_under(self.dir), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], stderr=subprocess.DEVNULL)
        still = mounts_under(self.dir)
        if leftovers:
            print(f"harness: killed leftovers after the run: {'; '.join(leftovers)}",
                  file=sys.stderr)
        if self.failed or _test_failed:
            print(f"---- containerd log tail ({self.log_path}) ----\n{self.log_tail()}"
                  "---- end of containerd log ----", file=sys.stderr)
        if still:
            print(f"harness: mounts remain under {self.dir}, not removing it: {still}",
                  file=sys.stderr)
        elif os.environ.get("VEIL_TEST_KEEP") == "1":
            print(f"harness: kept {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None


# ---------------------------------------------------------------------------------------------
# CLI: `harness.py run [--namespace NS] [--cri] -- COMMAND...` runs COMMAND against a private
# containerd (scripts/demo, scripts/bench). COMMAND sees CONTAINERD_ADDRESS and
# CONTAINERD_NAMESPACE (so plain `ctr` talks to it), VEIL_CONFIG (the dev runtime config),
# VEIL_IMAGE (busybox image) and VEIL_PAUSE_IMAGE; with --cri the images are also in CRI's
# k8s.io namespace and CRI_CONFIG_FILE points plain `crictl` (on PATH) at the same containerd.
# Everything is removed afterwards, also on Ctrl-C. Exits with COMMAND's status.

def _main(argv):
    import argparse
    parser = argparse.ArgumentParser(prog="harness.py")
    sub = parser.add_subparsers(dest="action", required=True)
    run = sub.add_parser("run", help="run a command against a private containerd")
    run.add_argument("--namespace", default="default")
    run.add_argument("--cri", action="store_true", help="set up crictl and CRI's images")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run: no command given")
    require_runtime_binaries()
    ctd = Containerd(namespace=args.namespace)
    print(f"harness: starting a private containerd in {tempfile.gettempdir()}/veil-ctd-*",
          file=sys.stderr)
    ctd.start()
    status = 1
    try:
        env = dict(os.environ, CONTAINERD_ADDRESS=ctd.address,
                   CONTAINERD_NAMESPACE=args.namespace, VEIL_CONFIG=ctd.veil_config,
                   VEIL_IMAGE=images.BUSYBOX_IMAGE, VEIL_PAUSE_IMAGE=images.PAUSE_IMAGE,
                   VEIL_CONTAINERD_DIR=ctd.dir)
        path = [shim_binary_dir(), ctd.bin_dir]
        if args.cri:
            import crictl
            if args.namespace != "k8s.io":
                ctd.import_test_images("k8s.io")
            cri = crictl.Crictl(ctd)
            for ref in (images.PAUSE_IMAGE, images.BUSYBOX_IMAGE):  # via containerd's events
                wait_for(lambda: cri.image_id(ref), 30, f"CRI to see {ref}")
            env["CRI_CONFIG_FILE"] = cri.config
            path.append(os.path.dirname(cri.binary))
        env["PATH"] = ":".join(path + [env.get("PATH", "/usr/bin:/bin")])
        status = subprocess.run(command, env=env).returncode
    finally:
        ctd.failed = status != 0 and os.environ.get("VEIL_TEST_DEBUG") == "1"
        ctd.stop()
    return status


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
