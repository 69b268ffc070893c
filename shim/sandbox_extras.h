/* What a TEE launch adds to the VM: the initdata disk and its digest bound into the
 * hardware (SNP host-data / TDX mrconfigid), and the expected launch measurement that
 * the shim records in the sandbox's state directory. */
#ifndef VEIL_SHIM_SANDBOX_EXTRAS_H
#define VEIL_SHIM_SANDBOX_EXTRAS_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include "hypervisor/vm.h"

struct shim;

struct sandbox_extras {
  struct veil_vm_disk disks[1];
  size_t n_disks;
  char initdata_path[PATH_MAX];
  uint8_t initdata_digest[64];
  size_t initdata_digest_len;
  /* from enabled annotations (io.katacontainers.config.hypervisor.*), 0/NULL = config */
  unsigned vcpus;
  unsigned memory_mb;
  char kernel_params[1024];
  char *policy; /* agent policy text (io.katacontainers.config.agent.policy), malloc'd */
  char initdata_algorithm[16];
};

/* Validate the initdata annotation (when the runtime config enables it) and write its
 * disk image into the state dir. */
int shim_sandbox_extras_prepare(struct shim *s, const json_t *spec, struct sandbox_extras *out,
                                veil_error_t *err);
/* initdata.c: decode + validate the annotation, write the disk, fill the digest. */
int shim_initdata_prepare(struct shim *s, const char *annotation, struct sandbox_extras *out,
                          veil_error_t *err);
/* Send the policy (if any) right after the agent answered, as kata does. */
int shim_sandbox_extras_apply_policy(struct shim *s, struct sandbox_extras *x, veil_error_t *err);
void shim_sandbox_extras_clear(struct sandbox_extras *x);
/* The agent re-reads the initdata disk and reports the digest it computed (veil-agent:
 * GetGuestDetails extra_features "initdata-digest=<alg>:<hex>"): a different value fails
 * the sandbox; an agent that does not report one (kata-agent) is only logged. */
int shim_initdata_verify(struct shim *s, const struct sandbox_extras *x, veil_error_t *err);
/* Compute the expected measurement, log it (debug) and write measurement.json. */
void shim_sandbox_extras_record_measurement(struct shim *s, const struct veil_vm_spec *spec);

#endif
