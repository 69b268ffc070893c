/* The CoCo initdata contract, written once for both sides: the host writes it (measure/,
 * hypervisor/, shim/) and the guest reads it back (agent/), so the two cannot disagree.
 *  - The document: TOML with `version`, `algorithm` and a [data] table of strings (the reader
 *    is initdata_toml.c). Its digest is the named hash of the raw TOML bytes.
 *  - The disk the guest reads it from (Kata prepareInitdataImage): "initdata", le64 gzip
 *    length, the gzip bytes, zeros up to a multiple of 512 bytes.
 *  - The gunzip: multi-member, at most VEIL_INITDATA_MAX_TOML bytes out.
 *  - The agent's report of what it read: GetGuestDetails extra feature
 *    "initdata-digest=<algorithm>:<lowercase hex>".
 *  - The TEE binding: SNP host-data (32 bytes), TDX mrconfigid (48 bytes), the digest
 *    zero-padded or truncated as Kata does; SEV, SEV-ES and SE have no such field.
 * Everything read here is untrusted (a pod annotation on the host, a disk in the guest):
 * sizes are bounded and bad input is an EINVAL or E2BIG error naming what is wrong. */
#ifndef VEIL_COMMON_INITDATA_H
#define VEIL_COMMON_INITDATA_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/tee.h"

#define VEIL_INITDATA_ANNOTATION "io.katacontainers.config.hypervisor.cc_init_data"
/* One limit on both sides for the decompressed document: the host's, so the guest accepts
 * exactly what the host can write (a larger guest limit would only let a forged disk make
 * PID 1 allocate more). 1 MiB is ample: all of a pod's annotations total at most 256 KiB. */
#define VEIL_INITDATA_MAX_TOML (1024u * 1024)
/* gzip bytes in an image: a VEIL_INITDATA_MAX_TOML document stored uncompressed fits
 * (deflateBound adds about 350 bytes). */
#define VEIL_INITDATA_MAX_GZIP (VEIL_INITDATA_MAX_TOML + 4096u)
#define VEIL_INITDATA_MAX_DIGEST 64
#define VEIL_INITDATA_IMAGE_HEADER 16 /* "initdata" + le64 gzip length */
#define VEIL_INITDATA_DIGEST_FEATURE "initdata-digest="

struct veil_initdata_entry {
  char *key;
  char *value;
};

struct veil_initdata {
  char *toml;          /* the raw document (NUL-terminated; toml_len excludes the NUL) */
  size_t toml_len;
  uint8_t *gzip;       /* the compressed document (what the disk image carries) */
  size_t gzip_len;
  char *version;
  char *algorithm;     /* "sha256" | "sha384" | "sha512" */
  uint8_t digest[VEIL_INITDATA_MAX_DIGEST];
  size_t digest_len;   /* 32, 48 or 64 */
  struct veil_initdata_entry *data; /* the [data] table's string values, in document order */
  size_t n_data;
};

void veil_initdata_free(struct veil_initdata *d);
/* Value of a [data] key (e.g. "policy.rego"), or NULL. */
const char *veil_initdata_get(const struct veil_initdata *d, const char *key);

/* d->toml is set: read the TOML (version, algorithm, [data]) and digest it. */
int veil_initdata_parse(struct veil_initdata *d, veil_error_t *err);
/* The TOML reader alone (initdata_toml.c): fills d->version, d->algorithm, d->data. */
int veil_initdata_parse_toml(struct veil_initdata *d, veil_error_t *err);

/* Inflate gzip (every member) into at most VEIL_INITDATA_MAX_TOML bytes (E2BIG beyond);
 * *out is malloc'd and NUL-terminated. */
int veil_initdata_gunzip(const uint8_t *in, size_t in_len, char **out, size_t *out_len,
                         veil_error_t *err);
int veil_initdata_gzip(const char *in, size_t len, uint8_t **out, size_t *out_len, veil_error_t *err);

/* The digest of doc under a named algorithm: sha256 (32 bytes), sha384 (48), sha512 (64). */
int veil_initdata_digest(const char *algorithm, const void *doc, size_t len,
                         uint8_t out[VEIL_INITDATA_MAX_DIGEST], size_t *out_len, veil_error_t *err);

/* The disk image of d (malloc'd, a multiple of 512 bytes). */
int veil_initdata_image_build(const struct veil_initdata *d, uint8_t **img, size_t *len,
                              veil_error_t *err);
/* An image header (the first len >= 16 bytes of a disk): 1 with the gzip length it declares
 * (1..VEIL_INITDATA_MAX_GZIP), 0 when there is no "initdata" magic (not an initdata disk),
 * -1 when the length is out of range. */
int veil_initdata_image_header(const uint8_t *head, size_t len, uint64_t *gzip_len,
                               veil_error_t *err);
/* A whole image held in memory: header, gunzip, parse, digest. */
int veil_initdata_from_image(const uint8_t *img, size_t len, struct veil_initdata **out,
                             veil_error_t *err);

/* "initdata-digest=<algorithm>:<hex>" (malloc'd; NULL when out of memory). */
char *veil_initdata_digest_feature(const char *algorithm, const uint8_t *digest, size_t len);
/* The inverse, for what the guest reports: a known algorithm and exactly its digest length in
 * hex. algorithm receives the name (at most 15 characters). */
int veil_initdata_digest_feature_parse(const char *feature, char algorithm[16],
                                       uint8_t digest[VEIL_INITDATA_MAX_DIGEST], size_t *len,
                                       veil_error_t *err);

/* The bytes a TEE binds: SNP host-data (*len = 32), TDX mrconfigid (*len = 48); ENOTSUP for
 * SEV, SEV-ES and SE, which have no such field. out holds 64 bytes. If b64 is not NULL it
 * receives the base64 form QEMU and libvirt take (malloc'd). */
int veil_initdata_binding(enum veil_tee tee, const uint8_t *digest, size_t digest_len,
                          uint8_t out[VEIL_INITDATA_MAX_DIGEST], size_t *len, char **b64,
                          veil_error_t *err);

#endif
