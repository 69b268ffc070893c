/* initdata: annotation decoding, digest, hardware binding, disk image (see initdata.h). */
#include "measure/initdata.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "measure/measure_bytes.h"

VEIL_DEFINE_CLEANUP(struct veil_initdata, veil_initdata_free)

void veil_initdata_free(struct veil_initdata *d)
{
  if (!d)
    return;
  free(d->toml);
  free(d->gzip);
  free(d->version);
  free(d->algorithm);
  for (size_t i = 0; i < d->n_data; i++) {
    free(d->data[i].key);
    free(d->data[i].value);
  }
  free(d->data);
  free(d);
}

const char *veil_initdata_get(const struct veil_initdata *d, const char *key)
{
  for (size_t i = d->n_data; i-- > 0;)
    if (strcmp(d->data[i].key, key) == 0)
      return d->data[i].value;
  return NULL;
}

/* Inflate gzip (multi-member) into at most VEIL_INITDATA_MAX_TOML bytes. */
static int gunzip(const uint8_t *in, size_t in_len, char **out, size_t *out_len, veil_error_t *err)
{
  z_stream z = { 0 };
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
    return veil_error_make(err, ENOMEM, "zlib init failed");
  char *buf = malloc(VEIL_INITDATA_MAX_TOML + 1);
  if (!buf) {
    inflateEnd(&z);
    return veil_error_errno(err, "allocate");
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)in_len;
  z.next_out = (Bytef *)buf;
  z.avail_out = VEIL_INITDATA_MAX_TOML + 1; /* one extra byte detects overflow */
  int rc;
  for (;;) {
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc == Z_STREAM_END && z.avail_in > 0 && z.avail_out > 0) {
      inflateReset(&z); /* next gzip member */
      continue;
    }
    if (rc != Z_OK || z.avail_out == 0 || z.avail_in == 0)
      break;
  }
  size_t produced = VEIL_INITDATA_MAX_TOML + 1 - z.avail_out;
  inflateEnd(&z);
  if (produced > VEIL_INITDATA_MAX_TOML) {
    free(buf);
    return veil_error_make(err, E2BIG, "initdata decompresses to more than %u bytes",
                           VEIL_INITDATA_MAX_TOML);
  }
  if (rc != Z_STREAM_END) {
    free(buf);
    return veil_error_make(err, EINVAL, "initdata annotation is not valid gzip data (%s)",
                           rc == Z_OK || rc == Z_BUF_ERROR ? "truncated" : "corrupt");
  }
  buf[produced] = '\0';
  *out = buf;
  *out_len = produced;
  return 0;
}

static int gzip_compress(const char *in, size_t len, uint8_t **out, size_t *out_len, veil_error_t *err)
{
  z_stream z = { 0 };
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return veil_error_make(err, ENOMEM, "zlib init failed");
  size_t cap = deflateBound(&z, (uLong)len) + 32;
  uint8_t *buf = malloc(cap);
  if (!buf) {
    deflateEnd(&z);
    return veil_error_errno(err, "allocate");
  }
  z.next_in = (Bytef *)in;
  z.avail_in = (uInt)len;
  z.next_out = buf;
  z.avail_out = (uInt)cap;
  int rc = deflate(&z, Z_FINISH);
  *out_len = cap - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(buf);
    return veil_error_make(err, EIO, "gzip compression failed");
  }
  *out = buf;
  return 0;
}

static int digest(struct veil_initdata *d, veil_error_t *err)
{
  const EVP_MD *md = strcmp(d->algorithm, "sha256") == 0 ? EVP_sha256()
                   : strcmp(d->algorithm, "sha384") == 0 ? EVP_sha384()
                   : strcmp(d->algorithm, "sha512") == 0 ? EVP_sha512() : NULL;
  if (!md)
    return veil_error_make(err, EINVAL, "unsupported initdata algorithm `%.32s`: use sha256, "
                           "sha384 or sha512", d->algorithm);
  unsigned n = 0;
  if (!EVP_Digest(d->toml, d->toml_len, d->digest, &n, md, NULL))
    return veil_error_make(err, EIO, "initdata digest failed");
  d->digest_len = n;
  return 0;
}

/* Takes the document (toml, gzip); parses, validates and digests it. */
static int finish(struct veil_initdata *d, veil_error_t *err)
{
  if (veil_initdata_parse_toml(d, err) < 0 || digest(d, err) < 0)
    return veil_error_wrap(err, "invalid initdata");
  return 0;
}

int veil_initdata_from_annotation(const char *value, struct veil_initdata **out, veil_error_t *err)
{
  size_t n = strnlen(value, VEIL_INITDATA_MAX_ANNOTATION + 1);
  if (n > VEIL_INITDATA_MAX_ANNOTATION)
    return veil_error_make(err, E2BIG, "annotation %s is larger than %u bytes",
                           VEIL_INITDATA_ANNOTATION, VEIL_INITDATA_MAX_ANNOTATION);
  cleanup_with(veil_initdata_free) struct veil_initdata *d = calloc(1, sizeof(*d));
  if (!d)
    return veil_error_errno(err, "allocate");
  if (veil_base64_decode(value, VEIL_INITDATA_MAX_ANNOTATION, &d->gzip, &d->gzip_len, err) < 0 ||
      gunzip(d->gzip, d->gzip_len, &d->toml, &d->toml_len, err) < 0 || finish(d, err) < 0)
    return veil_error_wrap(err, "annotation %s", VEIL_INITDATA_ANNOTATION);
  *out = steal_pointer(&d);
  return 0;
}

int veil_initdata_from_toml(const char *toml, size_t len, struct veil_initdata **out,
                            veil_error_t *err)
{
  if (len > VEIL_INITDATA_MAX_TOML)
    return veil_error_make(err, E2BIG, "initdata document is larger than %u bytes",
                           VEIL_INITDATA_MAX_TOML);
  cleanup_with(veil_initdata_free) struct veil_initdata *d = calloc(1, sizeof(*d));
  if (!d || !(d->toml = malloc(len + 1)))
    return veil_error_errno(err, "allocate");
  memcpy(d->toml, toml, len);
  d->toml[len] = '\0';
  d->toml_len = len;
  if (finish(d, err) < 0 || gzip_compress(d->toml, len, &d->gzip, &d->gzip_len, err) < 0)
    return -1;
  *out = steal_pointer(&d);
  return 0;
}

int veil_initdata_binding(enum veil_profile profile, const uint8_t *digest, size_t digest_len,
                          uint8_t out[64], size_t *len, char **b64, veil_error_t *err)
{
  size_t field;
  switch (profile) {
  case VEIL_PROFILE_DEV: field = 0; break;
  case VEIL_PROFILE_SNP: field = 32; break; /* host-data */
  case VEIL_PROFILE_TDX: field = 48; break; /* mrconfigid */
  default:
    return veil_error_make(err, ENOTSUP, "profile %s cannot bind an initdata digest to the TEE "
                           "(only snp host-data and tdx mrconfigid can)", veil_profile_name(profile));
  }
  memset(out, 0, 64);
  memcpy(out, digest, digest_len < field ? digest_len : field);
  *len = field;
  if (b64 && (*b64 = veil_base64_encode(out, field)) == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  return 0;
}

int veil_initdata_write_image(const struct veil_initdata *d, const char *path, veil_error_t *err)
{
  size_t size = (16 + d->gzip_len + 511) / 512 * 512;
  cleanup_free uint8_t *img = calloc(1, size);
  if (!img)
    return veil_error_errno(err, "allocate initdata image");
  memcpy(img, "initdata", 8);
  veil_put_le64(img + 8, d->gzip_len);
  memcpy(img + 16, d->gzip, d->gzip_len);
  if (veil_write_file_atomic(path, img, size, 0644, err) < 0) /* not secret: it is in the pod spec */
    return veil_error_wrap(err, "write initdata image");
  return 0;
}
