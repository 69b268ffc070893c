#!/usr/bin/python3
"""packaging/containerd/ against every containerd of the matrix: packaging/install.sh patches
a private containerd's config (version 2 for 1.6/1.7; version 3 and 2.3+'s version 4 for 2.x)
with its snippet, containerd starts with it (it refuses a bad config at start), and its CRI
reports the six veil-* runtime handlers with their runtime type, runtime config, annotations
and sandbox mode (podsandbox). A snippet with a wrong type is refused by every version.

No VM is booted: this checks what containerd makes of the snippets, not the runtime.
"""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import crictl  # noqa: E402
import harness  # noqa: E402
import testmain  # noqa: E402
import tools  # noqa: E402

INSTALL = os.path.join(harness.SOURCE_ROOT, "packaging", "install.sh")
PROFILES = ("dev", "sev", "sev-es", "snp", "tdx", "se")


def setUpModule():
    missing = []
    for series in tools.SERIES:
        missing += tools.missing_containerd(series)
    for path in (harness.shim_binary(),) + harness.guest_image():
        if not os.path.exists(path):
            missing.append(f"{path} (build with `ninja -C {harness.BUILD_ROOT}`)")
    if missing:
        raise RuntimeError("missing: " + ", ".join(missing))
    tools.cri_tool("crictl")


def install_into(ctd):
    """packaging/install.sh with a prefix in ctd's dir, patching ctd's config."""
    res = subprocess.run([INSTALL, "--prefix", os.path.join(ctd.dir, "prefix"), "--build-dir",
                          harness.BUILD_ROOT, "--containerd-config", ctd.config_path],
                         capture_output=True, text=True, timeout=120)
    if res.returncode != 0:
        raise AssertionError(f"install.sh failed ({res.returncode}): {res.stdout}{res.stderr}")


def snippet(series):
    name = "veil-runtimes.v2.toml.in" if series.startswith("1.") else "veil-runtimes.v3.toml.in"
    with open(os.path.join(harness.SOURCE_ROOT, "packaging", "containerd", name)) as f:
        return f.read()


class PackagingTests(unittest.TestCase):
    def check_runtimes(self, series, config_version):
        ctd = harness.Containerd(namespace="k8s.io", import_images=False, series=series,
                                 configure=install_into, config_version=config_version)
        with ctd:
            with open(ctd.config_path) as f:
                header = f.readline().strip()
            default_version = 3 if series.startswith("2.") else 2
            self.assertEqual(header, f"version = {config_version or default_version}")
            # `crictl info` prints the CRI's status and config as JSON.
            info = json.loads(crictl.Crictl(ctd).run("info").stdout)
            runtimes = info["config"]["containerd"]["runtimes"]
            configs = os.path.join(ctd.dir, "prefix", "share", "veil", "configs")
            for profile in PROFILES:
                name = f"veil-{profile}"
                self.assertIn(name, runtimes, f"containerd {series} does not see {name}")
                rt = runtimes[name]
                self.assertEqual(rt["runtimeType"], "io.containerd.veil.v2")
                config_path = os.path.join(configs, f"{profile}.json")
                self.assertEqual(rt["options"]["ConfigPath"], config_path)
                self.assertTrue(os.path.exists(config_path), f"{config_path} not installed")
                self.assertEqual(rt["PodAnnotations"], ["io.katacontainers.*"])
                self.assertEqual(rt["ContainerAnnotations"],
                                 ["io.kubernetes.container.terminationMessage*"])
                self.assertTrue(rt["privileged_without_host_devices"])
                if series.startswith("2."):
                    self.assertEqual(rt["sandboxer"], "podsandbox")
                elif series == "1.7":
                    self.assertEqual(rt["sandboxMode"], "podsandbox")

    def test_1_6(self):
        self.check_runtimes("1.6", None)

    def test_1_7(self):
        self.check_runtimes("1.7", None)

    def test_2_3(self):
        self.check_runtimes("2.3", None)

    def test_2_3_config_version_4(self):
        self.check_runtimes("2.3", 4)

    def test_2_4(self):
        self.check_runtimes("2.4", None)

    def test_2_4_config_version_4(self):
        self.check_runtimes("2.4", 4)

    def test_bad_snippet_is_refused_at_start(self):
        for series in tools.SERIES:
            with self.subTest(series=series):
                bad = snippet(series).replace("@CONFIG_DIR@", "/nonexistent").replace(
                    "privileged_without_host_devices = true",
                    'privileged_without_host_devices = "yes"', 1)

                def append_bad(ctd, bad=bad):
                    with open(ctd.config_path, "a") as f:
                        f.write("\n" + bad)

                ctd = harness.Containerd(namespace="k8s.io", import_images=False, series=series,
                                         configure=append_bad)
                with self.assertRaises(RuntimeError) as caught:
                    ctd.start()
                self.assertIn("exited with 1 at start", str(caught.exception))
                self.assertRegex(str(caught.exception),
                                 r"(?i)privilegedwithouthostdevices|convert yes\(string\) to bool")


if __name__ == "__main__":
    testmain.main("integration-packaging-containerd", harness.VEIL_RUNTIME)
