/* The pod's IPC and UTS namespaces, shared by all its containers as in a Kubernetes pod (and
 * kata-agent's setup_shared_namespaces): made at CreateSandbox, held by bind mounts at
 * <sandbox dir>/ns/{ipc,uts} so they outlive every container, joined by each container, and
 * released at DestroySandbox. The UTS one carries the pod's hostname. */
#ifndef VEIL_AGENT_SANDBOX_NS_H
#define VEIL_AGENT_SANDBOX_NS_H

#include <jansson.h>

#include "common/error.h"

struct agent_sandbox_ns {
  char *ipc; /* <dir>/ns/ipc, NULL when not made */
  char *uts;
};

/* Make both namespaces under sandbox_dir, the UTS one with hostname ("" or NULL: none). */
int agent_sandbox_ns_create(const char *sandbox_dir, const char *hostname,
                            struct agent_sandbox_ns *out, veil_error_t *err);
/* Unmount and remove what create made; safe on a zeroed or half-made one. */
void agent_sandbox_ns_release(struct agent_sandbox_ns *ns);
/* Point config's ipc and uts namespace entries (where present) at the pod's. */
int agent_sandbox_ns_join(const struct agent_sandbox_ns *ns, json_t *config, veil_error_t *err);

#endif
