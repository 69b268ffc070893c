/* containerd.runtime.sandbox.v1.Sandbox (containerd 2.x, `sandboxer = "shim"`). */
#ifndef VEIL_SHIM_SANDBOX_SERVICE_H
#define VEIL_SHIM_SANDBOX_SERVICE_H

#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "ttrpc/ttrpc.h"

struct shim;

void shim_sandbox_api_init(struct shim *s);
void shim_sandbox_api_clear(struct shim *s);
int shim_sandbox_service_register(struct shim *s, ttrpc_server *srv, veil_error_t *err);
/* The VMM process's resident memory and CPU time (utime + stime), from /proc. */
int shim_vmm_usage(pid_t pid, uint64_t *rss_bytes, uint64_t *cpu_ns, veil_error_t *err);

#endif
