"""Where the containerd builds, crictl and critest of the test matrix live.

containerd 1.6 is Debian 12's package (/usr/bin); 1.7, 2.3 and 2.4, crictl and critest are
built by scripts/setup-containerd into $VEIL_TOOL_CACHE/<tool>/<version>/ (default
/var/cache/veil) at the versions pinned in scripts/tool-versions. A missing tool is an error
that says how to get it (the integration tests fail, never skip).

Environment:
  VEIL_CONTAINERD   containerd series the tests run against: 1.6 (default), 1.7, 2.3, 2.4
  VEIL_TOOL_CACHE   cache root of scripts/setup-containerd (default /var/cache/veil)
"""

import os

LIB_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("VEIL_SOURCE_ROOT") or os.path.normpath(
    os.path.join(LIB_DIR, "..", "..", ".."))
CACHE = os.environ.get("VEIL_TOOL_CACHE", "/var/cache/veil")
SERIES = ("1.6", "1.7", "2.3", "2.4")
DEFAULT_SERIES = "1.6"
SYSTEM_SERIES = "1.6"  # Debian 12's containerd package


def pinned_versions():
    """KEY=VALUE pairs of scripts/tool-versions."""
    versions = {}
    with open(os.path.join(SOURCE_ROOT, "scripts", "tool-versions")) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                key, value = line.split("=", 1)
                versions[key] = value
    return versions


def containerd_series():
    series = os.environ.get("VEIL_CONTAINERD") or DEFAULT_SERIES
    if series not in SERIES:
        raise RuntimeError(f"VEIL_CONTAINERD={series}: not one of {', '.join(SERIES)}")
    return series


def containerd_version(series):
    """The exact version of a series: 1.7 -> 1.7.24 (None for Debian's 1.6)."""
    if series == SYSTEM_SERIES:
        return None
    return pinned_versions()["CONTAINERD_" + series.replace(".", "_")]


def containerd_dir(series):
    """The directory with containerd, ctr and containerd-shim-runc-v2 of `series`."""
    if series == SYSTEM_SERIES:
        return "/usr/bin"
    return os.path.join(CACHE, "containerd", containerd_version(series))


def _how_to_get(series):
    if series == SYSTEM_SERIES:
        return "package containerd: run scripts/setup"
    return "run scripts/setup-containerd"


def missing_containerd(series):
    """What of `series` is missing, each entry naming how to get it."""
    d = containerd_dir(series)
    return [f"{os.path.join(d, b)} ({_how_to_get(series)})"
            for b in ("containerd", "ctr", "containerd-shim-runc-v2")
            if not os.access(os.path.join(d, b), os.X_OK)]


def cri_tool(name):
    """crictl or critest (cri-tools at the pinned version); raises if not built."""
    path = os.path.join(CACHE, name, pinned_versions()["CRI_TOOLS"], name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"missing: {path} (run scripts/setup-containerd)")
    return path
