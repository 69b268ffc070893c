"""The images critest (cri-tools 1.37 pkg/validate) pulls, rebuilt from local content.

There is no internet here: each image critest names is made from Debian's busybox-static (the
busybox layer of images.py) plus a small layer of its own, and served by a local registry that
containerd uses as the mirror of registry.k8s.io, k8s.gcr.io and gcr.io. What each test checks
of its image decides the content:
  e2e-test-images/busybox:1.29-2     the default container image: applets as hard links (a
                                     masked path must not mask busybox itself), plus the pgrep
                                     and `ipcs -m` Debian's busybox-static lacks (sh scripts)
  e2e-test-images/nginx:1.14-2       veil-webserver on :80 (webserver.c: an nginx-like master)
  e2e-test-images/httpd:2.4.39-4     busybox httpd on :80 that logs "httpd"
  e2e-test-images/nonewprivs:1.3     veil-nnp setuid root (nnp.c): "Effective uid: N"
  k8s-staging-cri-tools/hostnet-nginx-amd64   veil-webserver on :12003
  pause:3.9                          the pause image (also as k8s.gcr.io/pause:3.9)
  k8s-staging-cri-tools/test-image-* tags, distinct and identical images, image users/groups
test-image-digest@sha256:9700f9a2... cannot be rebuilt (its digest is upstream's content): the
image tests that pull it fail with every runtime, so they are not counted against veil.
"""

import os

import images

REGISTRY_HOSTS = ("registry.k8s.io", "k8s.gcr.io", "gcr.io")
PAUSE = "registry.k8s.io/pause:3.9"  # the sandbox image of the critest containerd
E2E = "e2e-test-images/"
STAGING = "k8s-staging-cri-tools/"


def _top(files):
    """A layer with `files` {path: (bytes, mode)} and their parent directories."""
    layer = images.Layer()
    for path, (data, mode) in files.items():
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            layer.dir("/".join(parts[:i]))
        layer.file(path, data, mode)
    return layer.finish()


def _passwd(*extra):
    base = (b"root:x:0:0:root:/root:/bin/sh\n"
            b"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    return base + b"".join(line.encode() + b"\n" for line in extra)


def _group(*extra):
    return b"root:x:0:\nnogroup:x:65534:\n" + b"".join(g.encode() + b"\n" for g in extra)


PGREP = b"""#!/bin/sh
# pgrep [-f] PATTERN: pids whose name (or command line) contains PATTERN
full=
[ "$1" = -f ] && { full=1; shift; }
status=1
for d in /proc/[0-9]*; do
  pid=${d#/proc/}
  [ "$pid" = "$$" ] && continue
  if [ -n "$full" ]; then
    name=$(tr '\\0' ' ' <"$d/cmdline" 2>/dev/null) || continue
  else
    read -r name <"$d/comm" 2>/dev/null || continue
  fi
  case $name in *"$1"*) echo "$pid"; status=0 ;; esac
done
exit $status
"""

IPCS = b"""#!/bin/sh
# ipcs -m: the System V shared memory segments of this IPC namespace, as util-linux prints them
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch     status"
awk 'NR > 1 { printf "0x%08x %-10s %-10s %-10s %-10s %-10s\\n", $1, $2, $8, $3, $4, $7 }' \\
  /proc/sysvipc/shm
"""


def image_set(nnp_binary, pause_binary, webserver_binary):
    """[(repository, [tags], layers, config)]; repositories as the mirror serves them."""
    base = images.busybox_layer(hard_links=True, extra={"usr/bin/pgrep": (PGREP, 0o755),
                                                        "usr/bin/ipcs": (IPCS, 0o755)})
    env = [images.PATH_ENV]

    def bb(files=None, **config):
        layers = [base] + ([_top(files)] if files else [])
        return layers, dict({"Env": env, "Cmd": ["sh"], "WorkingDir": "/"}, **config)

    with open(webserver_binary, "rb") as f:
        nginx = {"usr/sbin/nginx": (f.read(), 0o755), "var/run/.keep": (b"", 0o644)}

    def httpd(port, root, banner):
        page = b"<html><body>" + banner.encode() + b"</body></html>\n"
        cmd = ["sh", "-c", f"echo {banner} listening on :{port}; exec httpd -f -v -p {port} -h {root}"]
        return bb({f"{root.lstrip('/')}/index.html": (page, 0o644)}, Cmd=cmd)

    def marker(name):
        return {"etc/veil-test-image": (name.encode() + b"\n", 0o644)}

    with open(nnp_binary, "rb") as f:
        nnp = f.read()
    pause_layer = images.pause_layer(pause_binary)
    users = {"etc/passwd": (_passwd("www-data:x:33:33:www-data:/var/www:/bin/sh",
                                    "default-user:x:1000:1000::/home:/bin/sh"), 0o644),
             "etc/group": (_group("www-data:x:33:", "default-user:x:1000:",
                                  "group-defined-in-image:x:50000:default-user"), 0o644)}

    out = [
        (E2E + "busybox", ["1.29-2"], *bb()),
        (E2E + "nginx", ["1.14-2"], *bb(nginx, Cmd=["/usr/sbin/nginx"])),
        (E2E + "httpd", ["2.4.39-4"], *httpd(80, "/usr/local/apache2/htdocs", "httpd")),
        (E2E + "nonewprivs", ["1.3"],
         *bb({"usr/local/bin/nnp": (nnp, 0o4755)}, Cmd=["/usr/local/bin/nnp"])),
        (STAGING + "hostnet-nginx-amd64", ["latest"],
         *bb(nginx, Cmd=["/usr/sbin/nginx", "-p", "12003"])),
        ("pause", ["3.9"], [pause_layer],
         {"Env": env, "Entrypoint": ["/pause"], "WorkingDir": "/"}),
        (STAGING + "test-image-latest", ["latest"], *bb(marker("latest"))),
        (STAGING + "test-image-tag", ["test", "all"], *bb(marker("tag"))),
        (STAGING + "test-image-tags", ["1", "2", "3"], *bb(marker("tags"))),
        (STAGING + "test-image-user-uid", ["latest"], *bb(users, User="1002")),
        (STAGING + "test-image-user-username", ["latest"], *bb(users, User="www-data")),
        (STAGING + "test-image-user-uid-group", ["latest"], *bb(users, User="1003:1003")),
        (STAGING + "test-image-user-username-group", ["latest"],
         *bb(users, User="www-data:www-data")),
        (STAGING + "test-image-predefined-group", ["latest"], *bb(users, User="1000")),
    ]
    for i in (1, 2, 3):  # different tags, different images
        out.append((STAGING + f"test-image-{i}", ["latest"], *bb(marker(f"image-{i}"))))
    return out


def build(out_dir, registry, nnp_binary, pause_binary, webserver_binary):
    """Writes one OCI tar per (repository, tag) named `<registry>/<repository>:<tag>`;
    returns [(reference, tar path)]."""
    os.makedirs(out_dir, exist_ok=True)
    built = []
    for repo, tags, layers, config in image_set(nnp_binary, pause_binary, webserver_binary):
        for tag in tags:
            ref = f"{registry}/{repo}:{tag}"
            path = os.path.join(out_dir, f"{repo.replace('/', '_')}_{tag}.oci.tar")
            images.write_oci_tar(path, ref, layers, config)
            built.append((ref, path))
    return built
