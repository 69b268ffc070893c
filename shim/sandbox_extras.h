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
};

/* Validate the initdata annotation (when the runtime config enables it) and write its
 * disk image into the state dir. */
int shim_sandbox_extras_prepare(struct shim *s, const json_t *spec, struct sandbox_extras *out,
                                veil_error_t *err);
/* initdata.c: decode + validate the annotation, write the disk, fill the digest. */
int shim_initdata_prepare(struct shim *s, const char *annotation, struct sandbox_extras *out,
                          veil_error_t *err);
/* Compute the expected measurement, log it (debug) and write measurement.json. */
void shim_sandbox_extras_record_measurement(struct shim *s, const struct sandbox_extras *x);

#endif
