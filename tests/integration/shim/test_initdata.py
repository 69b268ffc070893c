#!/usr/bin/python3
"""initdata through the whole dev path: containerd passes the pod annotation
io.katacontainers.config.hypervisor.cc_init_data to the shim, which validates it, attaches the
initdata disk to the VM and records its digest; veil-agent reads the disk in the guest and
reports the digest it computed, which the shim compares with its own (a mismatch fails the
sandbox). Bad documents fail Create with InvalidArgument and leave nothing behind.
veil only (runc has no guest)."""

import base64
import gzip
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import testmain  # noqa: E402
from ctrtest import BOOT_TIMEOUT, IMAGE, CtrTestCase  # noqa: E402

ANNOTATION = "io.katacontainers.config.hypervisor.cc_init_data"
ctd = None


def setUpModule():
    global ctd
    if not harness.is_veil():
        raise SystemExit("test_initdata.py runs against veil only")
    harness.require_runtime_binaries()
    ctd = harness.Containerd(namespace="veilinit")
    ctd.start()
    CtrTestCase.ctd = ctd


def tearDownModule():
    if ctd is not None:
        ctd.stop()


def annotation_value(toml_text):
    return base64.b64encode(gzip.compress(toml_text.encode(), mtime=0)).decode()


class InitdataTests(CtrTestCase):
    def config_with_initdata(self):
        with open(ctd.veil_config) as f:
            config = json.load(f)
        config["enable_annotations"] = [ANNOTATION]
        path = os.path.join(ctd.dir, "initdata.json")
        with open(path, "w") as f:
            json.dump(config, f)
        return path

    def run_with(self, cid, value, check=True):
        return ctd.ctr("run", "--rm", "--runtime", harness.RUNTIME, "--runtime-config-path",
                       self.config_with_initdata(), "--annotation", f"{ANNOTATION}={value}",
                       IMAGE, cid, "true", check=check, timeout=BOOT_TIMEOUT)

    def test_guest_verifies_the_hosts_digest(self):
        toml = ('version = "0.1.0"\nalgorithm = "sha384"\n[data]\n'
                '"aa.toml" = "url = \\"http://kbs\\""\n')
        cid = self.new_id("initdata")
        res = self.run_with(cid, annotation_value(toml))
        self.assertEqual(res.returncode, 0, res)
        expected = hashlib.sha384(toml.encode()).hexdigest()
        with open(ctd.log_path) as f:
            log = f.read()
        self.assertIn(f"initdata digest verified by the agent (sha384:{expected})", log,
                      "the guest did not report the digest the host computed")
        self.assert_nothing_left(cid)

    def test_unknown_algorithm_is_invalid_argument(self):
        cid = self.new_id("badalg")
        res = self.run_with(cid, annotation_value('version = "0.1.0"\nalgorithm = "md5"\n'),
                            check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("md5", res.stderr)
        # containerd 1.x appends the gRPC code's name to the message; 2.x keeps the code as the
        # error's class (errgrpc.ToNative) and ctr prints only the shim's message.
        if not harness.is_v2_series(ctd.series):
            self.assertIn("invalid argument", res.stderr)
        self.assertIn("use sha256, sha384 or sha512", res.stderr)
        self.assert_nothing_left(cid)

    def test_not_gzip_is_invalid_argument(self):
        cid = self.new_id("notgzip")
        res = self.run_with(cid, base64.b64encode(b"plain text").decode(), check=False)
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("gzip", res.stderr)
        self.assert_nothing_left(cid)


if __name__ == "__main__":
    testmain.main("integration-shim-initdata", harness.RUNTIME)
