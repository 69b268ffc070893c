/* OCI config.json → Kata grpc.Spec for CreateContainer, trimmed as kata's
 * constrainGRPCSpec and handlePidNamespace do (kata_agent.go): no hooks, no guest seccomp,
 * no network/cgroup/time namespaces (the VM is the boundary), no pid namespace (the agent
 * makes one, or joins the pod's: sandbox_pidns), empty namespace paths, no cgroup devices,
 * pids, blkio or network resources and no host Cpus/Mems, no SELinux labels, no VFIO
 * devices; Root.Path = the guest rootfs, a guest cgroup path, host bind mounts rewritten to
 * the shared directory (dev) or dropped (TEE). */
#ifndef VEIL_SHIM_SPEC_H
#define VEIL_SHIM_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include "common/error.h"
#include "common/guest_paths.h"
#include "oci.pb-c.h"

#define GUEST_SHARED_DIR VEIL_GUEST_SHARED_DIR

/* A host path the shim must bind-mount into the share as <share dir>/<name>. */
struct spec_share {
  char *host_source;
  char *name;
  bool readonly;
};

struct spec_result {
  Grpc__Spec *spec;            /* free with protobuf_c_message_free_unpacked */
  struct spec_share *shares;
  size_t n_shares;
  size_t n_dropped_mounts;     /* host binds dropped (no shared fs) */
  bool sandbox_pidns;          /* the spec joined a pod pid namespace: share the pod's */
};

/* Maximum size of a config.json the shim accepts. */
#define OCI_SPEC_MAX_SIZE (4u << 20)

/* Where the container lands in the guest. */
struct spec_guest {
  const char *rootfs;          /* Root.Path in the guest */
  bool shared_fs;              /* host binds reach the guest through the share (dev) */
  uint64_t sandbox_shm_size;   /* bytes of the pod's /dev/shm (0 = the pod has none) */
};

/* The guest path of the pod-wide /dev/shm (kata: kataGuestSandboxDir()/shm). */
#define GUEST_SANDBOX_SHM VEIL_GUEST_SANDBOX_SHM
/* kata's DefaultShmSize: a /dev/shm that is not a bind of a sized tmpfs. */
#define SANDBOX_SHM_DEFAULT_SIZE (65536ull * 1024)

int shim_spec_build(const json_t *oci, const char *container_id, const struct spec_guest *guest,
                    struct spec_result *out, veil_error_t *err);
/* kata's getShmSize: the size of the sandbox's /dev/shm mount (statfs of a bind's source),
 * the default for any other /dev/shm, 0 when the spec has none. */
int shim_spec_shm_size(const json_t *oci, uint64_t *size, veil_error_t *err);
void shim_spec_result_clear(struct spec_result *r);
/* An exec's OCI process → the grpc.Process kata's runtime sends (cmdToKataProcess): terminal
 * (from the request), user uid/gid/additional gids, args, env, cwd; nothing else. */
Grpc__Process *shim_exec_process_build(const json_t *process, bool terminal, veil_error_t *err);
/* Parse and sanity-check config.json text: an object with ociVersion, process.args. */
json_t *shim_spec_parse(const char *text, size_t len, veil_error_t *err);

#endif
