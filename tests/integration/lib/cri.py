"""A minimal CRI (runtime.v1) client for the integration tests: there is no crictl in Debian.

The message classes are generated at test time from cri_api_subset.proto with Debian's protoc
(protobuf-compiler) into a temp dir; the gRPC method stubs are the few lines below, so only
python3-grpcio and python3-protobuf are needed (run with /usr/bin/python3).
"""

import importlib
import os
import subprocess
import sys

import grpc

LIB_DIR = os.path.dirname(os.path.abspath(__file__))
PROTO = "cri_api_subset.proto"

RUNTIME_METHODS = {
    "Version": ("VersionRequest", "VersionResponse"),
    "RunPodSandbox": ("RunPodSandboxRequest", "RunPodSandboxResponse"),
    "StopPodSandbox": ("StopPodSandboxRequest", "StopPodSandboxResponse"),
    "RemovePodSandbox": ("RemovePodSandboxRequest", "RemovePodSandboxResponse"),
    "PodSandboxStatus": ("PodSandboxStatusRequest", "PodSandboxStatusResponse"),
    "ListPodSandbox": ("ListPodSandboxRequest", "ListPodSandboxResponse"),
    "CreateContainer": ("CreateContainerRequest", "CreateContainerResponse"),
    "StartContainer": ("StartContainerRequest", "StartContainerResponse"),
    "StopContainer": ("StopContainerRequest", "StopContainerResponse"),
    "RemoveContainer": ("RemoveContainerRequest", "RemoveContainerResponse"),
    "ContainerStatus": ("ContainerStatusRequest", "ContainerStatusResponse"),
    "ExecSync": ("ExecSyncRequest", "ExecSyncResponse"),
}
IMAGE_METHODS = {
    "ImageStatus": ("ImageStatusRequest", "ImageStatusResponse"),
}


def generate(out_dir):
    """protoc --python_out for the CRI subset; returns the imported module."""
    subprocess.run(["protoc", f"-I{LIB_DIR}", f"--python_out={out_dir}", PROTO], check=True)
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)
    return importlib.import_module(PROTO[:-len(".proto")] + "_pb2")


class _Service:
    def __init__(self, channel, pb, service, methods, timeout):
        for name, (req, resp) in methods.items():
            call = channel.unary_unary(f"/runtime.v1.{service}/{name}",
                                       request_serializer=getattr(pb, req).SerializeToString,
                                       response_deserializer=getattr(pb, resp).FromString)
            setattr(self, name, self._bind(call, getattr(pb, req), timeout))

    @staticmethod
    def _bind(call, request_type, default_timeout):
        def invoke(request=None, timeout=None, **fields):
            if request is None:
                request = request_type(**fields)
            return call(request, timeout=timeout or default_timeout)
        return invoke


class CriClient:
    """runtime = CriClient(...).runtime; runtime.RunPodSandbox(config=..., runtime_handler=...)"""

    def __init__(self, address, work_dir, timeout=300):
        self.pb = generate(work_dir)
        self.channel = grpc.insecure_channel("unix://" + address)
        self.runtime = _Service(self.channel, self.pb, "RuntimeService", RUNTIME_METHODS, timeout)
        self.images = _Service(self.channel, self.pb, "ImageService", IMAGE_METHODS, timeout)

    def close(self):
        self.channel.close()

    def host_network_pod(self, name, uid, log_dir, annotations=None):
        """A PodSandboxConfig with host networking (no CNI here; and no hostname: a host
        network pod shares the host's UTS namespace)."""
        pb = self.pb
        return pb.PodSandboxConfig(
            metadata=pb.PodSandboxMetadata(name=name, uid=uid, namespace="veil-test", attempt=0),
            log_directory=log_dir,
            annotations=annotations or {},
            linux=pb.LinuxPodSandboxConfig(security_context=pb.LinuxSandboxSecurityContext(
                namespace_options=pb.NamespaceOption(network=pb.NODE))),
        )

    def container(self, name, image, command, log_path):
        pb = self.pb
        return pb.ContainerConfig(metadata=pb.ContainerMetadata(name=name, attempt=0),
                                  image=pb.ImageSpec(image=image), command=command,
                                  log_path=log_path)
