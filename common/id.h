/* The one rule for sandbox, container and exec ids, on the host and in the guest:
 * [A-Za-z0-9][A-Za-z0-9_.-]*, 1 to VEIL_ID_MAX bytes. It is the agent's rule: every id it
 * accepts of two or more characters also passes kata-agent's verify_id
 * (kata-sys-util validate.rs, ^[a-zA-Z0-9][a-zA-Z0-9_.-]+$; kata also refuses one-character
 * ids, which containerd allows, e.g. `ctr task exec --exec-id b`). Ids become path components
 * (shim state dir, VM run dir, /run/kata-containers/<id> in the guest) and parts of QEMU and
 * libvirt arguments: the rule leaves out `/`, a leading `.`, `,`, `:`, spaces and controls.
 * Checked once where an id enters (the shim's Create/Exec, the VM start, the agent's RPCs). */
#ifndef VEIL_COMMON_ID_H
#define VEIL_COMMON_ID_H

#include "common/error.h"

#define VEIL_ID_MAX 128

/* 0, or -1 with an InvalidArgument error naming `what` (e.g. "container_id"). */
int veil_id_check(const char *what, const char *id, veil_error_t *err);

#endif
