"""Container images without a registry: OCI image-layout tars built by hand.

Two images, both reproducible (fixed mtimes, uid/gid 0, sorted entries, gzip mtime 0), so the
same inputs always give the same digests:
  BUSYBOX_IMAGE  /bin/busybox from busybox-static plus a link per applet, /bin/sh default command
  PAUSE_IMAGE    a statically linked pause binary (tests/integration/lib/pause.c) as /pause

The tar carries the annotation `io.containerd.image.name`, so `ctr images import` names the image
without any flag. Run as a script to build them: images.py OUT_DIR PAUSE_BINARY
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

BUSYBOX_IMAGE = "veil.test/busybox:1"
PAUSE_IMAGE = "veil.test/pause:1"

# Fixed timestamp for every file and for the image config (2024-01-01T00:00:00Z).
EPOCH = 1704067200
EPOCH_ISO = "2024-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BUSYBOX_BINARY = "/bin/busybox"


class Layer:
    """An uncompressed layer tar assembled in memory with deterministic metadata."""

    def __init__(self):
        self._buf = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buf, mode="w", format=tarfile.PAX_FORMAT)
        self._entries = {}

    def _info(self, name, kind, mode):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.mtime = EPOCH
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    def dir(self, name, mode=0o755):
        self._entries[name] = (self._info(name, tarfile.DIRTYPE, mode), None)

    def file(self, name, data, mode=0o644):
        info = self._info(name, tarfile.REGTYPE, mode)
        info.size = len(data)
        self._entries[name] = (info, data)

    def hardlink(self, name, target):
        info = self._info(name, tarfile.LNKTYPE, 0o755)
        info.linkname = target
        self._entries[name] = (info, None)

    def symlink(self, name, target):
        info = self._info(name, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self._entries[name] = (info, None)

    def finish(self):
        """Returns (uncompressed tar bytes, gzip bytes)."""
        # Parents before children, and hard link targets before the links (a link's target is
        # always a regular file here): regular files first, then the rest, each sorted.
        order = sorted(self._entries, key=lambda n: (self._entries[n][0].type == tarfile.LNKTYPE, n))
        for name in order:
            info, data = self._entries[name]
            self._tar.addfile(info, io.BytesIO(data) if data is not None else None)
        self._tar.close()
        raw = self._buf.getvalue()
        gz = io.BytesIO()
        with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=6, mtime=0, filename="") as f:
            f.write(raw)
        return raw, gz.getvalue()


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _base_rootfs(layer):
    for d in ("bin", "dev", "etc", "proc", "root", "run", "sbin", "sys", "usr", "usr/bin",
              "usr/sbin", "var"):
        layer.dir(d)
    layer.dir("tmp", 0o1777)
    layer.file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                             b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    layer.file("etc/group", b"root:x:0:\nnogroup:x:65534:\n")


def busybox_layer(hard_links=False, extra=None):
    """busybox and a link per applet: symbolic, or hard links as upstream busybox images have
    (masking one applet's path then leaves the others working). `extra` {path: (bytes, mode)}
    adds files to the same layer."""
    if not os.access(BUSYBOX_BINARY, os.X_OK):
        raise RuntimeError(f"{BUSYBOX_BINARY} missing: install busybox-static (scripts/setup)")
    layer = Layer()
    _base_rootfs(layer)
    with open(BUSYBOX_BINARY, "rb") as f:
        layer.file("bin/busybox", f.read(), 0o755)
    applets = subprocess.run([BUSYBOX_BINARY, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    for path in applets:
        if path != "bin/busybox":
            if hard_links:
                layer.hardlink(path, "bin/busybox")
            else:
                layer.symlink(path, "/bin/busybox")
    for path, (data, mode) in (extra or {}).items():
        layer.file(path, data, mode)
    return layer.finish()


def pause_layer(pause_binary):
    layer = Layer()
    _base_rootfs(layer)
    with open(pause_binary, "rb") as f:
        layer.file("pause", f.read(), 0o755)
    return layer.finish()


def write_oci_tar(out_path, name, layer, config):
    """Writes an OCI image-layout tar holding one linux/amd64 image named `name`; `layer` is
    one finished Layer or a list of them (lowest first)."""
    layers = layer if isinstance(layer, list) else [layer]
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "created": EPOCH_ISO,
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [_digest(raw) for raw, _ in layers]},
        "history": [{"created": EPOCH_ISO, "created_by": "veil tests/integration/lib/images.py"}
                    for _ in layers],
    }
    config_blob = _json(image_config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _digest(config_blob), "size": len(config_blob)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": _digest(gz), "size": len(gz)} for _, gz in layers],
    }
    manifest_blob = _json(manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": _digest(manifest_blob), "size": len(manifest_blob),
            "platform": {"architecture": "amd64", "os": "linux"},
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": name.rsplit(":", 1)[1]},
        }],
    }
    files = {"oci-layout": _json({"imageLayoutVersion": "1.0.0"}), "index.json": _json(index)}
    for blob in [config_blob, manifest_blob] + [gz for _, gz in layers]:
        files["blobs/sha256/" + hashlib.sha256(blob).hexdigest()] = blob
    tmp = out_path + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for d in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
            tar.addfile(info)
        for fname in sorted(files):
            info = tarfile.TarInfo(fname)
            info.size, info.mode, info.mtime = len(files[fname]), 0o644, EPOCH
            tar.addfile(info, io.BytesIO(files[fname]))
    os.replace(tmp, out_path)
    return _digest(manifest_blob)


def build_busybox(out_dir):
    path = os.path.join(out_dir, "busybox.oci.tar")
    write_oci_tar(path, BUSYBOX_IMAGE, busybox_layer(),
                  {"Env": [PATH_ENV], "Cmd": ["/bin/sh"], "WorkingDir": "/"})
    return path


def build_pause(out_dir, pause_binary):
    path = os.path.join(out_dir, "pause.oci.tar")
    write_oci_tar(path, PAUSE_IMAGE, pause_layer(pause_binary),
                  {"Env": [PATH_ENV], "Entrypoint": ["/pause"], "WorkingDir": "/"})
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: images.py OUT_DIR PAUSE_BINARY")
    print(build_busybox(sys.argv[1]))
    print(build_pause(sys.argv[1], sys.argv[2]))
