/* OCI config.json → Kata grpc.Spec for CreateContainer, trimmed as kata's
 * constrainGRPCSpec does: no hooks, no guest seccomp (veil-agent does not apply it),
 * no network/cgroup namespaces (the VM is the boundary), empty namespace paths
 * (host paths mean nothing in the guest), Root.Path = the guest rootfs, a guest cgroup
 * path, and host bind mounts rewritten to the shared directory (dev) or dropped (TEE). */
#ifndef VEIL_SHIM_SPEC_H
#define VEIL_SHIM_SPEC_H

#include <jansson.h>
#include <stdbool.h>
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
};

/* Maximum size of a config.json the shim accepts. */
#define OCI_SPEC_MAX_SIZE (4u << 20)

int shim_spec_build(const json_t *oci, const char *container_id, const char *guest_rootfs,
                    bool have_shared_fs, struct spec_result *out, veil_error_t *err);
void shim_spec_result_clear(struct spec_result *r);
/* Parse and sanity-check config.json text: an object with ociVersion, process.args. */
json_t *shim_spec_parse(const char *text, size_t len, veil_error_t *err);

#endif
