/* The host's side of CoCo initdata: the pod annotation io.katacontainers.config.hypervisor.
 * cc_init_data (base64 of gzip of the TOML document), a TOML file (`veil measure --initdata`),
 * and the disk image file the VM is given. The document, its digest, the disk layout and the
 * TEE binding are the contract shared with the guest (common/initdata.h). */
#ifndef VEIL_MEASURE_INITDATA_H
#define VEIL_MEASURE_INITDATA_H

#include "common/error.h"
#include "common/initdata.h"

#define VEIL_INITDATA_MAX_ANNOTATION (256u * 1024)  /* base64 text */

/* From the annotation value (base64(gzip(TOML))). */
int veil_initdata_from_annotation(const char *value, struct veil_initdata **out, veil_error_t *err);
/* From a TOML document (compressed here for the disk image). */
int veil_initdata_from_toml(const char *toml, size_t len, struct veil_initdata **out,
                            veil_error_t *err);

/* Write the guest's initdata disk (veil_initdata_image_build) atomically, mode 0644: QEMU
 * may run as another user, and the content is not secret (it is in the pod spec). */
int veil_initdata_write_image(const struct veil_initdata *d, const char *path, veil_error_t *err);

#endif
