#!/usr/bin/python3
"""Shim benchmarks through a private containerd, veil against a named peer measured in the same
run (not a test: the numbers depend on the machine's load).

1. memory: RSS and PSS (/proc/<pid>/smaps_rollup) of one containerd-shim-veil-v2 vs one
   containerd-shim-runc-v2, each with one sleeping container (goal: veil <= 1/5 of runc;
   the VM's QEMU is reported apart: it is the guest, not the shim).
2. `ctr run --rm ... true` wall time with veil vs the same guest booted bare to agent-ready
   (tests/bench/guest's guest-boot-bench on the same vmlinuz and initrd) (goal <= 1.05x).
3. host CPU time (utime+stime) of the shim server per container lifecycle (`ctr run --rm`),
   read from /proc/<pid>/stat while the exited shim is a zombie child of this process (a child
   subreaper), so nothing after the last read is missed (goal veil <= 10 ms); runc alongside.
4. stdout throughput: `dd if=/dev/zero bs=64k count=N` in `ctr task exec`, through the shim
   (and with veil the agent and the VM), minus the same exec with count=0; veil vs runc.

usage: bench_shim.py [--runs N] [--mib M]   (VEIL_BUILD_ROOT selects the build dir)
"""

import argparse
import ctypes
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "integration", "lib"))
import harness  # noqa: E402
import images  # noqa: E402

VEIL, RUNC = harness.VEIL_RUNTIME, harness.RUNC_RUNTIME
CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36


def runtime_args(ctd, runtime):
    args = ["--runtime", runtime]
    if runtime == VEIL:
        args += ["--runtime-config-path", ctd.veil_config]
    return args


def smaps_rollup(pid):
    values = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            m = re.match(r"(\w+):\s+(\d+) kB", line)
            if m:
                values[m.group(1)] = int(m.group(2))
    return values["Rss"], values["Pss"]


def shim_of(ctd, runtime):
    name = "containerd-shim-veil-v2" if runtime == VEIL else "containerd-shim-runc-v2"
    pids = [p for p in ctd.shims()
            if os.path.basename(open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")[0]
                                .decode()) == name]
    if len(pids) != 1:
        raise RuntimeError(f"expected one {name}, found {pids}")
    return pids[0]


def bench_memory(ctd):
    print("\n[1] shim memory with one sleeping container each (smaps_rollup)")
    result = {}
    for runtime, cid in ((RUNC, "mem-runc"), (VEIL, "mem-veil")):
        ctd.ctr("run", "-d", "--null-io", *runtime_args(ctd, runtime), images.BUSYBOX_IMAGE, cid,
                "sleep", "3600", timeout=300)
    time.sleep(2)  # let both settle after start
    for runtime in (RUNC, VEIL):
        result[runtime] = smaps_rollup(shim_of(ctd, runtime))
    qemu = ctd.qemus()
    qemu_rss = smaps_rollup(qemu[0]) if len(qemu) == 1 else (0, 0)
    for runtime in (RUNC, VEIL):
        rss, pss = result[runtime]
        print(f"  {runtime:24} RSS {rss / 1024:7.2f} MiB   PSS {pss / 1024:7.2f} MiB")
    print(f"  {'(veil VM: qemu)':24} RSS {qemu_rss[0] / 1024:7.2f} MiB   "
          f"PSS {qemu_rss[1] / 1024:7.2f} MiB")
    (vr, vp), (rr, rp) = result[VEIL], result[RUNC]
    print(f"  ratio veil/runc: RSS {vr / rr:.2f}  PSS {vp / rp:.2f}  (goal <= 0.20)")
    for cid in ("mem-runc", "mem-veil"):
        ctd.ctr("task", "kill", "-s", "SIGKILL", cid)
    for cid in ("mem-runc", "mem-veil"):
        harness.wait_for(lambda: ctd.tasks().get(cid) == "STOPPED", 60, f"{cid} stopped")
        ctd.ctr("task", "delete", cid)
        ctd.ctr("containers", "delete", cid)


def drain_zombies(ctd):
    """Reaps exited orphans (shims of earlier steps) so they are not taken for the next one."""
    harness.wait_for(lambda: not ctd.shims(), 30, "earlier shims to exit")
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def reap_shim_cpu(timeout=30):
    """Waits for an exited containerd shim among our children (we are their subreaper) and
    returns its (pid, utime+stime seconds) read from its zombie's /proc/<pid>/stat."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT | os.WNOHANG)
        except ChildProcessError:
            info = None
        if info is None:
            time.sleep(0.01)
            continue
        pid = info.si_pid
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        os.waitpid(pid, 0)
        if comm.startswith("containerd-shim"):
            return pid, (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    raise RuntimeError("no shim exited")


def bench_run_wall_and_cpu(ctd, runs):
    print(f"\n[2,3] `ctr run --rm <image> id true`, {runs} runs each: wall time and shim CPU")
    wall, cpu = {RUNC: [], VEIL: []}, {RUNC: [], VEIL: []}
    for i in range(runs):
        for runtime in (RUNC, VEIL):
            cid = f"run-{'veil' if runtime == VEIL else 'runc'}-{i}"
            drain_zombies(ctd)
            start = time.monotonic()
            ctd.ctr("run", "--rm", *runtime_args(ctd, runtime), images.BUSYBOX_IMAGE, cid,
                    "true", timeout=300)
            wall[runtime].append(time.monotonic() - start)
            cpu[runtime].append(reap_shim_cpu()[1])
    for runtime in (RUNC, VEIL):
        print(f"  {runtime:24} wall {' '.join(f'{t:.2f}' for t in wall[runtime])} s  -> median "
              f"{statistics.median(wall[runtime]):.2f} s; shim CPU "
              f"{' '.join(f'{c * 1000:.0f}' for c in cpu[runtime])} ms -> median "
              f"{statistics.median(cpu[runtime]) * 1000:.0f} ms")
    print(f"  shim CPU per lifecycle, veil: {statistics.median(cpu[VEIL]) * 1000:.0f} ms "
          f"(goal <= 10 ms; clock tick {1000 / CLK_TCK:.0f} ms; the short-lived `start` and "
          f"`delete` invocations are not included)")
    return statistics.median(wall[VEIL])


def bench_bare_boot(veil_wall, runs):
    bench = os.path.join(harness.BUILD_ROOT, "tests", "bench", "guest", "guest-boot-bench")
    kernel, initrd = harness.guest_image()
    vmlinux = os.path.join(os.path.dirname(kernel), "vmlinux")
    print(f"\n[2] peer: the same guest ({os.path.basename(kernel)}) booted bare to agent-ready "
          f"(guest-boot-bench, {runs} runs)")
    if not os.access(bench, os.X_OK):
        print(f"  {bench} not built: ninja -C {harness.BUILD_ROOT} "
              "tests/bench/guest/guest-boot-bench")
        return
    env = dict(os.environ, VEIL_BENCH_ONLY=os.path.basename(kernel))
    out = subprocess.run([bench, vmlinux, kernel, initrd, str(runs)], env=env, text=True,
                         capture_output=True, timeout=900)
    medians = re.findall(r"median ([0-9.]+) s", out.stdout)
    if out.returncode != 0 or not medians:
        print(f"  guest-boot-bench failed ({out.returncode}): {out.stdout}{out.stderr}")
        return
    bare = float(medians[-1])
    print("  " + "\n  ".join(line for line in out.stdout.splitlines() if "median" in line))
    print(f"  ctr run (veil) / bare boot: {veil_wall:.2f} / {bare:.2f} = {veil_wall / bare:.2f}x "
          "(goal <= 1.05x)")


def exec_seconds(ctd, cid, count):
    start = time.monotonic()
    res = subprocess.run(ctd.ctr_argv("task", "exec", "--exec-id", f"dd{count}-{time.time_ns()}",
                                      cid, "dd", "if=/dev/zero", "bs=65536", f"count={count}"),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, timeout=600)
    elapsed = time.monotonic() - start
    if res.returncode != 0 or len(res.stdout) != count * 65536:
        raise RuntimeError(f"dd exec in {cid}: status {res.returncode}, "
                           f"{len(res.stdout)} of {count * 65536} bytes")
    return elapsed


def bench_throughput(ctd, mib):
    count = mib * 16
    print(f"\n[4] stdout throughput: dd {mib} MiB (bs=64k) in `ctr task exec`, minus count=0")
    rates = {}
    for runtime, cid in ((RUNC, "tp-runc"), (VEIL, "tp-veil")):
        ctd.ctr("run", "-d", "--null-io", *runtime_args(ctd, runtime), images.BUSYBOX_IMAGE, cid,
                "sleep", "3600", timeout=300)
        empty = statistics.median(exec_seconds(ctd, cid, 0) for _ in range(3))
        full = statistics.median(exec_seconds(ctd, cid, count) for _ in range(3))
        rates[runtime] = mib / max(full - empty, 1e-6)
        print(f"  {runtime:24} exec {empty:.3f} s empty, {full:.3f} s with {mib} MiB -> "
              f"{rates[runtime]:8.1f} MiB/s")
        ctd.ctr("task", "kill", "-s", "SIGKILL", cid)
        harness.wait_for(lambda: ctd.tasks().get(cid) == "STOPPED", 60, f"{cid} stopped")
        ctd.ctr("task", "delete", cid)
        ctd.ctr("containers", "delete", cid)
    print(f"  ratio veil/runc: {rates[VEIL] / rates[RUNC]:.2f}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mib", type=int, default=32)
    args = parser.parse_args()
    harness.require_runtime_binaries(VEIL)
    harness.require_runtime_binaries(RUNC)
    # Orphaned shim servers get reparented to us, so their exit can be observed exactly.
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")
    print(f"shim benchmarks: build {harness.BUILD_ROOT}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f}")
    with harness.Containerd(namespace="bench") as ctd:
        bench_memory(ctd)
        veil_wall = bench_run_wall_and_cpu(ctd, args.runs)
        bench_throughput(ctd, args.mib)
    bench_bare_boot(veil_wall, args.runs)


if __name__ == "__main__":
    main()
