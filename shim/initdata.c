/* initdata (io.katacontainers.config.hypervisor.cc_init_data) for the sandbox: validated
 * by hypervisor/initdata (size bounds, decompression-bomb guard, version, algorithm), written
 * as a read-only disk image into the state dir; its digest is bound into the TEE (SNP
 * host-data / TDX mrconfigid) by the VM launch. Bad input is InvalidArgument. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "hypervisor/initdata.h"
#include "shim/sandbox_extras.h"
#include "shim/shim.h"

int shim_initdata_prepare(struct shim *s, const char *annotation, struct sandbox_extras *out,
                          veil_error_t *err)
{
  struct veil_initdata *d = NULL;
  if (veil_initdata_from_annotation(annotation, &d, err) < 0) {
    if (err && *err)
      (*err)->grpc_code = VEIL_GRPC_INVALID_ARGUMENT;
    return veil_error_wrap(err, "annotation %s", VEIL_INITDATA_ANNOTATION);
  }
  snprintf(out->initdata_path, sizeof(out->initdata_path), "%s/initdata.img",
           s->sandbox.state_dir);
  if (veil_initdata_write_image(d, out->initdata_path, err) < 0) {
    veil_initdata_free(d);
    return veil_error_wrap(err, "initdata disk");
  }
  memcpy(out->initdata_digest, d->digest, d->digest_len);
  out->initdata_digest_len = d->digest_len;
  out->disks[0].path = out->initdata_path;
  out->disks[0].readonly = true;
  out->disks[0].serial = "initdata";
  out->n_disks = 1;
  log_info("sandbox %s: initdata %s digest attached", s->sandbox.id, d->algorithm);
  veil_initdata_free(d);
  return 0;
}
