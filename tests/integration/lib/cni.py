"""CNI for a private containerd (Debian's containernetworking-plugins): a bridge network that
exists only inside the test's network namespace, IPAM state in containerd's temp dir."""

import json
import os
import shutil

CNI_DIR = "/usr/lib/cni"
PLUGINS = ("bridge", "host-local", "portmap", "loopback")


def require_plugins():
    missing = [f"{CNI_DIR}/{p} (package containernetworking-plugins)" for p in PLUGINS
               if not os.access(os.path.join(CNI_DIR, p), os.X_OK)]
    if not shutil.which("iptables"):
        missing.append("iptables (package iptables; the portmap CNI plugin needs it)")
    return missing


def bridge_configure(name, bridge, subnet):
    """A `configure(ctd)` for harness.Containerd that writes <ctd.dir>/cni/conf/10-<name>.conflist:
    bridge (gateway on the bridge, no masquerade), host-local in `subnet`, portmap, loopback."""
    def configure(ctd):
        conf = {
            "cniVersion": "1.0.0", "name": name,
            "plugins": [
                {"type": "bridge", "bridge": bridge, "isGateway": True, "ipMasq": False,
                 "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}]],
                          "routes": [{"dst": "0.0.0.0/0"}],
                          "dataDir": os.path.join(ctd.dir, "cni", "ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"},
            ],
        }
        with open(os.path.join(ctd.dir, "cni", "conf", f"10-{name}.conflist"), "w") as f:
            json.dump(conf, f, indent=2)
    return configure
