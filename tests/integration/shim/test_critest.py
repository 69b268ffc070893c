#!/usr/bin/python3
"""critest (cri-tools' CRI validation suite) against containerd + runc and containerd + veil in
the same run: passes when veil passes every case runc passes, except the cases docs/critest.md
lists with the reason a VM runtime cannot pass them (those are not run with veil).

Everything runs in a network namespace the test creates: a local docker-registry serving the
images critest pulls (rebuilt from busybox-static, critest_images.py) as the mirror of
registry.k8s.io, k8s.gcr.io and gcr.io (containerd's config_path hosts.toml), CNI (Debian's
bridge, host-local, portmap and loopback plugins) on a bridge inside the namespace, one private
containerd with both runtime handlers, and critest itself, run once per handler. The table
(total, passed by runc, passed by veil, exceptions) and the times are printed and written to
<build>/meson-logs/critest-summary.txt.

Environment: VEIL_CONTAINERD (the series; meson sets the matrix's full version),
VEIL_CRITEST_FOCUS (a ginkgo focus regex, for debugging one case; the verdict is then only
about those cases).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cni  # noqa: E402
import critest_images  # noqa: E402
import harness  # noqa: E402
import netns  # noqa: E402
import registry  # noqa: E402
import testmain  # noqa: E402
import tools  # noqa: E402

EXCEPTIONS_DOC = os.path.join(harness.SOURCE_ROOT, "docs", "critest.md")
CNI_DIR = cni.CNI_DIR
PUSH_NAMESPACE = "veil-critest-push"
# Generous: the whole suite under one runtime; a VM per pod under TCG on a loaded machine.
CRITEST_TIMEOUT_S = 3600


def read_table(heading, path=EXCEPTIONS_DOC):
    """[(compiled regex, reason)] from the rows "| `regex` | reason |" of the docs/critest.md
    section that starts with `## <heading>`."""
    out, inside = [], False
    with open(path) as f:
        for line in f:
            if line.startswith("## "):
                inside = line[3:].strip() == heading
                continue
            m = re.match(r"^\|\s*`([^`]+)`\s*\|\s*(.+?)\s*\|\s*$", line) if inside else None
            if m:
                out.append((re.compile(m.group(1)), m.group(2)))
    return out


def read_exceptions(path=EXCEPTIONS_DOC):
    """What a VM runtime cannot pass: not run with veil."""
    return read_table("Exceptions", path)


def read_known_gaps(path=EXCEPTIONS_DOC):
    """What veil does not pass yet, each with its issue: run with veil and expected to fail; one
    that passes fails the test until its row is removed (the table stays true)."""
    return read_table("Known gaps", path)


def spec_results(report_path):
    """{full spec text: state} from a ginkgo JSON report (only It specs)."""
    with open(report_path) as f:
        suites = json.load(f)
    results = {}
    for suite in suites:
        for spec in suite.get("SpecReports") or []:
            if spec.get("LeafNodeType") != "It":
                continue
            name = " ".join((spec.get("ContainerHierarchyTexts") or []) + [spec["LeafNodeText"]])
            results[name] = spec["State"]
    return results


write_cni_config = cni.bridge_configure("veil-critest", "veilcri0", "10.89.0.0/24")


def require_tools():
    missing = cni.require_plugins()
    if not os.access(registry.BINARY, os.X_OK):
        missing.append(f"{registry.BINARY} (package docker-registry)")
    helpers = [os.path.join(harness.BUILD_ROOT, "tests", "integration", "shim", name)
               for name in ("veil-nnp", "veil-webserver")]
    for path in helpers:
        if not os.access(path, os.X_OK):
            missing.append(f"{path} (build with `ninja -C {harness.BUILD_ROOT}`)")
    if not shutil.which("ipcmk"):
        missing.append("ipcmk (package util-linux; critest's HostIpc cases run it)")
    if missing:
        raise RuntimeError("missing: " + ", ".join(missing) + " (run scripts/setup)")
    return helpers


def host_shm_segments():
    """{shmid: (size, nattch)} of the System V shared memory segments of this IPC namespace."""
    with open("/proc/sysvipc/shm") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return {int(r[1]): (int(r[3]), int(r[6])) for r in rows}


class CritestTests(unittest.TestCase):
    def setUp(self):
        harness.require_runtime_binaries()
        self.nnp, self.webserver = require_tools()
        self.critest = tools.cri_tool("critest")
        self.work = tempfile.mkdtemp(prefix="veil-critest-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.times = {}

    def push_images(self, ctd, reg):
        start = time.monotonic()
        built = critest_images.build(os.path.join(self.work, "images"), reg.address, self.nnp,
                                     harness.pause_binary(ctd.dir), self.webserver)
        for ref, tar in built:
            ctd.ctr("images", "import", tar, namespace=PUSH_NAMESPACE, timeout=120)
            ctd.ctr("images", "push", "--plain-http", ref, namespace=PUSH_NAMESPACE,
                    timeout=120)
        for ref, _ in built:
            ctd.ctr("images", "rm", ref, namespace=PUSH_NAMESPACE, check=False)
        self.times["images"] = time.monotonic() - start
        return len(built)

    def run_critest(self, ctd, handler, skip=()):
        """critest with `handler`; `skip`: regexes of cases not to run."""
        report = os.path.join(self.work, f"critest-{handler}.json")
        log = os.path.join(self.work, f"critest-{handler}.log")
        argv = [self.critest, "-runtime-endpoint", "unix://" + ctd.address,
                "-image-endpoint", "unix://" + ctd.address, "-runtime-handler", handler,
                "-ginkgo.json-report", report, "-ginkgo.no-color",
                f"-ginkgo.timeout={CRITEST_TIMEOUT_S}s"]
        focus = os.environ.get("VEIL_CRITEST_FOCUS")
        if focus:
            argv.append("-ginkgo.focus=" + focus)
        if skip:
            argv.append("-ginkgo.skip=" + "|".join(f"(?:{rx})" for rx in skip))
        start = time.monotonic()
        shm_before = host_shm_segments()
        try:
            with open(log, "wb") as f:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=f,
                                      stderr=subprocess.STDOUT, timeout=CRITEST_TIMEOUT_S + 300,
                                      cwd=self.work)
        finally:
            # The HostIpc cases leave the 1 MiB segments they made with `ipcmk -M` (the IPC
            # namespace is the machine's): remove the unattached ones that appeared.
            for shmid, (size, nattch) in host_shm_segments().items():
                if shmid not in shm_before and size == 1048576 and nattch == 0:
                    subprocess.run(["ipcrm", "-m", str(shmid)], capture_output=True)
        self.times[handler] = time.monotonic() - start
        if not os.path.exists(report):
            with open(log, errors="replace") as f:
                tail = f.read()[-3000:]
            self.fail(f"critest ({handler}) exited {proc.returncode} without a report:\n{tail}")
        return spec_results(report), log

    def test_veil_passes_what_runc_passes(self):
        exceptions = read_exceptions()
        self.assertTrue(exceptions, f"no exception table in {EXCEPTIONS_DOC}")
        gaps = read_known_gaps()
        with netns.NetNS(f"veil-critest-{os.getpid()}"):
            reg = registry.Registry(self.work)
            reg.start()
            self.addCleanup(reg.stop)
            hosts = reg.write_mirror_hosts(os.path.join(self.work, "certs.d"),
                                           critest_images.REGISTRY_HOSTS)
            ctd = harness.Containerd(namespace="k8s.io", import_images=False,
                                     cni_bin_dir=CNI_DIR, registry_config_path=hosts,
                                     sandbox_image=critest_images.PAUSE,
                                     configure=write_cni_config)
            with ctd:
                n_images = self.push_images(ctd, reg)
                runc, runc_log = self.run_critest(ctd, "runc")
                # The listed exceptions would only cost veil their timeouts (minutes).
                veil, veil_log = self.run_critest(ctd, "veil",
                                                  skip=[rx.pattern for rx, _ in exceptions])
        self.report(exceptions, gaps, runc, veil, n_images, runc_log, veil_log)

    def report(self, exceptions, gaps, runc, veil, n_images, runc_log, veil_log):
        def excepted(name):
            return next((reason for rx, reason in exceptions if rx.search(name)), None)

        def known_gap(name):
            return next((reason for rx, reason in gaps if rx.search(name)), None)

        passed_runc = {n for n, s in runc.items() if s == "passed"}
        passed_veil = {n for n, s in veil.items() if s == "passed"}
        missing = sorted(passed_runc - passed_veil)
        allowed = [(n, excepted(n)) for n in missing if excepted(n)]
        gap_failed = [(n, known_gap(n)) for n in missing if not excepted(n) and known_gap(n)]
        regressions = [n for n in missing if not excepted(n) and not known_gap(n)]
        # a known gap that passes with veil (and runc): its row must go
        gap_passed = sorted(n for n in passed_veil & passed_runc if known_gap(n))
        ran = sorted(n for n in passed_veil if excepted(n))  # a skip regex that missed
        lines = [
            f"critest {os.path.basename(os.path.dirname(self.critest))} on containerd "
            f"{tools.containerd_series()}: {len(runc)} cases",
            f"  passed by runc: {len(passed_runc)}   passed by veil: {len(passed_veil)}   "
            f"listed exceptions (not run with veil) that runc passes: {len(allowed)}   "
            f"known gaps (failing, with their issue): {len(gap_failed)}   "
            f"unexplained: {len(regressions)}   known gaps that pass now: {len(gap_passed)}",
            f"  times: images {self.times.get('images', 0):.0f}s ({n_images} tags), "
            f"runc {self.times.get('runc', 0):.0f}s, veil {self.times.get('veil', 0):.0f}s",
        ]
        for n, reason in allowed:
            lines.append(f"  exception: {n} -- {reason}")
        for n, reason in gap_failed:
            lines.append(f"  known gap: {n} (veil: {veil.get(n)}) -- {reason}")
        for n in gap_passed:
            lines.append(f"  PASSES NOW, remove it from the known gaps: {n}")
        for n in regressions:
            lines.append(f"  FAILED with veil, passed with runc: {n} (veil: {veil.get(n)})")
        for n in ran:
            lines.append(f"  note: listed as an exception but ran and passed with veil: {n}")
        summary = "\n".join(lines)
        print("\n" + summary, flush=True)
        out_dir = os.path.join(harness.BUILD_ROOT, "meson-logs")
        if os.path.isdir(out_dir):
            with open(os.path.join(out_dir, "critest-summary.txt"), "w") as f:
                f.write(summary + "\n")
            for log in (runc_log, veil_log):
                shutil.copy(log, out_dir)
        self.assertTrue(passed_runc, "runc passed no critest case: the setup is broken")
        self.assertEqual(regressions, [], "veil fails critest cases that runc passes "
                         f"(see {out_dir}/critest-veil.log)")
        self.assertEqual(gap_passed, [], f"known gaps that veil passes now: remove their rows "
                         f"from {EXCEPTIONS_DOC}")


if __name__ == "__main__":
    testmain.main("integration-critest", harness.VEIL_RUNTIME)
