#!/usr/bin/python3
"""Golden agent requests: a fixed CRI pod (pause + one app container) and one exec, through a
real containerd and the veil shim to the dev guest; the shim records every request it sends
to the agent (VEIL_AGENT_REQUEST_LOG) and the CreateSandbox / CreateContainer / ExecProcess /
network requests must equal tests/golden/agent-requests/cri-pod.<containerd>.jsonl after the
run's ids, paths and host name are replaced by placeholders. docs/kata-requests.md reviews each
field against what kata's runtime sends (file:line). VEIL_UPDATE_GOLDEN=1 rewrites the file.
"""

import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import crictl  # noqa: E402
import harness  # noqa: E402
import images  # noqa: E402
import testmain  # noqa: E402

GOLDEN_DIR = os.path.join(harness.SOURCE_ROOT, "tests", "golden", "agent-requests")
RECORDED = ("SetPolicy", "UpdateInterface", "UpdateRoutes", "AddARPNeighbors", "CreateSandbox",
            "CreateContainer", "ExecProcess", "CopyFile")
POD_UID = "0f7d5e1c-1a2b-4c3d-8e9f-000000000001"

ctd = None
cri = None


def setUpModule():
    global ctd, cri
    harness.require_runtime_binaries()
    ctd = harness.Containerd(namespace="k8s.io")
    ctd.start()
    cri = crictl.Crictl(ctd)
    cri.wait_for_images((images.PAUSE_IMAGE, images.BUSYBOX_IMAGE))


def tearDownModule():
    if ctd is not None:
        ctd.stop()


def normalize(text, names):
    for real, placeholder in sorted(names.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(real, placeholder)
    return text


class AgentRequestTests(unittest.TestCase):
    def test_cri_pod_requests_match_golden(self):
        log_dir = os.path.join(ctd.dir, "pods", "golden")
        os.makedirs(log_dir)
        pod_json = cri.write_json("pod", crictl.host_network_pod("golden", POD_UID, log_dir))
        pod_id = cri.out("runp", "--runtime", "veil", pod_json)
        app_json = cri.write_json("app", crictl.container("app", images.BUSYBOX_IMAGE,
                                                          ["sleep", "3600"], "app.log"))
        cid = cri.out("create", pod_id, app_json, pod_json)
        cri.run("start", cid)
        res = cri.run("exec", "-s", cid, "sh", "-c", "echo hi")
        self.assertEqual(res.stdout.strip(), "hi")
        cri.run("stopp", pod_id)
        cri.run("rmp", pod_id)

        with open(ctd.agent_request_log) as f:
            lines = [json.loads(line) for line in f]
        names = {pod_id: "<pod-id>", cid: "<app-id>", ctd.dir: "<tmp>",
                 os.uname().nodename: "<host>"}
        recorded = []
        # a host-network pod gets the host's resolv.conf: its lines, as kata's getDNS splits them
        with open("/etc/resolv.conf") as f:
            host_dns = f.read().split("\n")
        for line in lines:
            if line["method"] not in RECORDED:
                continue
            if line["method"] == "CreateSandbox":
                self.assertEqual(line["request"].get("dns"), host_dns)
                line["request"]["dns"] = ["<the lines of the host's /etc/resolv.conf>"]
            text = normalize(json.dumps(line, sort_keys=True), names)
            # the shim's exec ids are "<containerd's id>-<shim pid>-<n>"
            text = re.sub(r'"([A-Za-z0-9]+)-[0-9]+-[0-9]+"', r'"<exec-id>"', text)
            # share entries: kata's "<cid>-<16 random hex>-<name>"
            text = re.sub(r'-[0-9a-f]{16}-', '-<random>-', text)
            recorded.append(json.dumps(json.loads(text), sort_keys=True, indent=None))
        methods = [json.loads(r)["method"] for r in recorded]
        self.assertEqual(methods, ["CreateSandbox", "CreateContainer", "CreateContainer",
                                   "ExecProcess"], methods)
        golden = os.path.join(GOLDEN_DIR, f"cri-pod.containerd-{ctd.series}.jsonl")
        got = "\n".join(recorded) + "\n"
        if os.environ.get("VEIL_UPDATE_GOLDEN") == "1":
            with open(golden, "w") as f:
                f.write(got)
        with open(golden) as f:
            want = f.read()
        for i, (w, g) in enumerate(zip(want.splitlines(), got.splitlines())):
            self.assertEqual(json.loads(g), json.loads(w),
                             f"request {i} ({methods[i]}) differs from {golden}")
        self.assertEqual(len(want.splitlines()), len(recorded))


if __name__ == "__main__":
    testmain.main("integration-agent-requests", harness.RUNTIME)
