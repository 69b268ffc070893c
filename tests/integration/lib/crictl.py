"""crictl (cri-tools, built by scripts/setup-containerd) against a private containerd's CRI.

`Crictl(ctd)` writes a crictl config next to the containerd (endpoints, a timeout long enough
for a VM boot under TCG, no pull on create) and runs `crictl --config <it> ...`; the pod and
container configs are JSON files in the temp dir, as a user would write them.
"""

import json
import os
import subprocess

import harness
import tools

# RunPodSandbox boots a TCG guest; on a loaded 2-core machine that can take minutes.
TIMEOUT_S = 300


class CrictlError(AssertionError):
    pass


def write_config(ctd):
    """<ctd.dir>/crictl.yaml for ctd's socket; returns its path."""
    path = os.path.join(ctd.dir, "crictl.yaml")
    endpoint = "unix://" + ctd.address
    with open(path, "w") as f:
        f.write(f"runtime-endpoint: {endpoint}\nimage-endpoint: {endpoint}\n"
                f"timeout: {TIMEOUT_S}\ndebug: false\npull-image-on-create: false\n")
    return path


class Crictl:
    def __init__(self, ctd):
        self.binary = tools.cri_tool("crictl")
        self.ctd = ctd
        self.config = write_config(ctd)
        self.seq = 0

    def argv(self, *args):
        return [self.binary, "--config", self.config] + list(args)

    def run(self, *args, check=True, input=None, timeout=TIMEOUT_S + 60):
        """`crictl args...`; returns the CompletedProcess (text)."""
        argv = self.argv(*args)
        try:
            res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                 input=input, stdin=None if input is not None else
                                 subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise CrictlError(f"`{' '.join(argv)}` did not finish within {timeout}s; "
                              f"stdout={e.stdout!r} stderr={e.stderr!r}") from None
        if check and res.returncode != 0:
            raise CrictlError(f"`{' '.join(argv)}` exited {res.returncode}: "
                              f"stdout={res.stdout!r} stderr={res.stderr!r}")
        return res

    def out(self, *args):
        """stdout of a command that prints one id (runp, create)."""
        return self.run(*args).stdout.strip()

    def json(self, command, *args):
        """`crictl COMMAND -o json args...` parsed (flags go before arguments)."""
        return json.loads(self.run(command, "-o", "json", *args).stdout)

    def write_json(self, name, obj):
        self.seq += 1
        path = os.path.join(self.ctd.dir, f"crictl-{self.seq}-{name}.json")
        with open(path, "w") as f:
            json.dump(obj, f, indent=2)
        return path

    # typed helpers -----------------------------------------------------------------------

    def pod_state(self, pod_id):
        return self.json("inspectp", pod_id)["status"]["state"]

    def container_status(self, cid):
        return self.json("inspect", cid)["status"]

    def pods(self):
        return self.run("pods", "-q").stdout.split()

    def containers(self):
        return self.run("ps", "-a", "-q").stdout.split()

    def wait_for_images(self, refs, timeout_s=30):
        """Images imported with ctr reach CRI's image cache through containerd's events."""
        for ref in refs:
            harness.wait_for(lambda: self.image_id(ref), timeout_s, f"CRI to see {ref}")

    def image_id(self, ref):
        """The image id CRI knows for `ref`, or None."""
        res = self.run("inspecti", "-o", "json", ref, check=False)
        if res.returncode != 0:
            return None
        return json.loads(res.stdout)["status"]["id"] or None


# CRI NamespaceMode values
POD, CONTAINER, NODE = 0, 1, 2
# As the kubelet sets them for a pod without shareProcessNamespace: each container has its own
# PID namespace (its command is PID 1), network per `network`.
def namespace_options(network):
    return {"network": network, "pid": CONTAINER, "ipc": POD}


def host_network_pod(name, uid, log_dir, annotations=None):
    """A pod config with host networking (CNI is not set up here; and no hostname: a host
    network pod shares the host's UTS namespace)."""
    return {
        "metadata": {"name": name, "uid": uid, "namespace": "veil-test", "attempt": 0},
        "log_directory": log_dir,
        "annotations": annotations or {},
        "linux": {"security_context": {"namespace_options": namespace_options(NODE)}},
    }


def container(name, image, command, log_path, network=NODE):
    return {"metadata": {"name": name, "attempt": 0}, "image": {"image": image},
            "command": command, "log_path": log_path,
            "linux": {"security_context": {"namespace_options": namespace_options(network)}}}
