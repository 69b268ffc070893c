/* initdata (io.katacontainers.config.hypervisor.cc_init_data) for the sandbox: validated
 * by hypervisor/initdata, written as a disk image into the state dir, its digest bound
 * into the TEE (SNP host-data / TDX mrconfigid) by the VM launch. */
#include <errno.h>
#include <stdio.h>

#include "shim/sandbox_extras.h"
#include "shim/shim.h"

int shim_initdata_prepare(struct shim *s, const char *annotation, struct sandbox_extras *out,
                          veil_error_t *err)
{
  (void)s;
  (void)annotation;
  (void)out;
  return veil_error_grpc(err, VEIL_GRPC_UNIMPLEMENTED, "initdata: not wired yet");
}
