/* CoCo initdata: the pod annotation io.katacontainers.config.hypervisor.cc_init_data
 * (base64 of gzip of a TOML document with `version`, `algorithm` and a [data] table),
 * its digest (the named hash of the raw TOML bytes), the digest's hardware binding
 * (SNP host-data, TDX mrconfigid) and the disk image the guest reads it from.
 * Everything here is untrusted input: sizes are bounded, gzip is inflated in a stream with
 * an output cap, and bad input is an EINVAL error naming what is wrong. */
#ifndef VEIL_MEASURE_INITDATA_H
#define VEIL_MEASURE_INITDATA_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "hypervisor/config.h"

#define VEIL_INITDATA_ANNOTATION "io.katacontainers.config.hypervisor.cc_init_data"
#define VEIL_INITDATA_MAX_ANNOTATION (256u * 1024)  /* base64 text */
#define VEIL_INITDATA_MAX_TOML (1024u * 1024)       /* decompressed document */
#define VEIL_INITDATA_MAX_DIGEST 64

struct veil_initdata_entry {
  char *key;
  char *value;
};

struct veil_initdata {
  char *toml;          /* the raw document (NUL-terminated; toml_len excludes the NUL) */
  size_t toml_len;
  uint8_t *gzip;       /* the compressed document as delivered (goes into the disk image) */
  size_t gzip_len;
  char *version;
  char *algorithm;     /* "sha256" | "sha384" | "sha512" */
  uint8_t digest[VEIL_INITDATA_MAX_DIGEST];
  size_t digest_len;   /* 32, 48 or 64 */
  struct veil_initdata_entry *data; /* the [data] table's string values, in document order */
  size_t n_data;
};

/* From the annotation value (base64(gzip(TOML))). */
int veil_initdata_from_annotation(const char *value, struct veil_initdata **out, veil_error_t *err);
/* From a TOML document (compressed here for the disk image). */
int veil_initdata_from_toml(const char *toml, size_t len, struct veil_initdata **out,
                            veil_error_t *err);
void veil_initdata_free(struct veil_initdata *d);
/* Value of a [data] key (e.g. "policy.rego"), or NULL. */
const char *veil_initdata_get(const struct veil_initdata *d, const char *key);

/* The bytes bound to hardware for a profile: SNP host-data (32 bytes), TDX mrconfigid
 * (48 bytes), zero-padded or truncated like Kata does. *len = 0 for dev (nothing bound);
 * ENOTSUP for SEV, SEV-ES and SE, which have no such field. out holds 64 bytes. If b64 is
 * not NULL it receives the base64 form used on the QEMU command line (malloc'd). */
int veil_initdata_binding(enum veil_profile profile, const uint8_t *digest, size_t digest_len,
                          uint8_t out[64], size_t *len, char **b64, veil_error_t *err);

/* Write the guest's initdata disk: "initdata", u64le gzip length, gzip bytes, zero-padded to a
 * multiple of 512 bytes (Kata prepareInitdataImage). Written atomically, mode 0644: QEMU
 * may run as another user, and the content is not secret (it is in the pod spec). */
int veil_initdata_write_image(const struct veil_initdata *d, const char *path, veil_error_t *err);

/* Parse a TOML document's top-level `version`/`algorithm` and [data] string values
 * (initdata_toml.c). Fills d->version, d->algorithm, d->data. */
int veil_initdata_parse_toml(struct veil_initdata *d, veil_error_t *err);

#endif
