#!/usr/bin/python3
"""The registry-less test images (tests/integration/lib/images.py) are reproducible: two
builds give byte-identical OCI tars, and the tars hold what containerd needs (the image name
annotation, a linux/amd64 manifest whose config lists the layer's uncompressed digest)."""

import gzip
import hashlib
import io
import json
import os
import sys
import tarfile
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import harness  # noqa: E402
import images  # noqa: E402
import testmain  # noqa: E402


def build(out):
    return images.build_busybox(out), images.build_pause(out, harness.pause_binary(out))


class ImageTests(unittest.TestCase):
    def test_two_builds_are_identical(self):
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            for x, y in zip(build(a), build(b)):
                with open(x, "rb") as fx, open(y, "rb") as fy:
                    self.assertEqual(hashlib.sha256(fx.read()).hexdigest(),
                                     hashlib.sha256(fy.read()).hexdigest(), x)

    def test_layout_names_the_image_and_matches_digests(self):
        with tempfile.TemporaryDirectory() as d:
            for path, name in zip(build(d), (images.BUSYBOX_IMAGE, images.PAUSE_IMAGE)):
                with tarfile.open(path) as tar:
                    blob = lambda digest: tar.extractfile(  # noqa: E731
                        "blobs/sha256/" + digest.split(":")[1]).read()
                    index = json.load(tar.extractfile("index.json"))
                    entry = index["manifests"][0]
                    self.assertEqual(entry["annotations"]["io.containerd.image.name"], name)
                    self.assertEqual(entry["platform"], {"architecture": "amd64", "os": "linux"})
                    manifest = json.loads(blob(entry["digest"]))
                    config = json.loads(blob(manifest["config"]["digest"]))
                    layer = blob(manifest["layers"][0]["digest"])
                    self.assertEqual(manifest["layers"][0]["size"], len(layer))
                    raw = gzip.decompress(layer)
                    self.assertEqual(config["rootfs"]["diff_ids"],
                                     ["sha256:" + hashlib.sha256(raw).hexdigest()])
                    for member in tarfile.open(fileobj=io.BytesIO(raw)):
                        self.assertEqual((member.uid, member.gid, member.mtime),
                                         (0, 0, images.EPOCH), member.name)


if __name__ == "__main__":
    testmain.main("integration-shim-images", "n/a")
