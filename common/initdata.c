/* The initdata contract (initdata.h): layout, gzip, digest, the agent's report, TEE binding. */
#include "common/initdata.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "common/base64.h"
#include "common/cleanup.h"

#define IMAGE_MAGIC "initdata"

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

int veil_initdata_gunzip(const uint8_t *in, size_t in_len, char **out, size_t *out_len,
                         veil_error_t *err)
{
  z_stream z = { 0 };
  if (in_len > VEIL_INITDATA_MAX_GZIP)
    return veil_error_make(err, E2BIG, "initdata gzip data is larger than %u bytes",
                           VEIL_INITDATA_MAX_GZIP);
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
    return veil_error_make(err, EINVAL, "initdata is not valid gzip data (%s)",
                           rc == Z_OK || rc == Z_BUF_ERROR ? "truncated" : "corrupt");
  }
  buf[produced] = '\0';
  *out = buf;
  *out_len = produced;
  return 0;
}

int veil_initdata_gzip(const char *in, size_t len, uint8_t **out, size_t *out_len, veil_error_t *err)
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

/* The algorithms a document may name. */
static const struct {
  const char *name;
  const EVP_MD *(*md)(void);
} algorithms[] = {
  { "sha256", EVP_sha256 },
  { "sha384", EVP_sha384 },
  { "sha512", EVP_sha512 },
};

static const EVP_MD *algorithm_md(const char *name)
{
  for (size_t i = 0; i < sizeof(algorithms) / sizeof(algorithms[0]); i++)
    if (strcmp(name, algorithms[i].name) == 0)
      return algorithms[i].md();
  return NULL;
}

int veil_initdata_digest(const char *algorithm, const void *doc, size_t len,
                         uint8_t out[VEIL_INITDATA_MAX_DIGEST], size_t *out_len, veil_error_t *err)
{
  const EVP_MD *md = algorithm_md(algorithm);
  if (!md)
    return veil_error_make(err, EINVAL, "unsupported initdata algorithm `%.32s`: use sha256, "
                           "sha384 or sha512", algorithm);
  unsigned n = 0;
  if (!EVP_Digest(doc, len, out, &n, md, NULL))
    return veil_error_make(err, EIO, "initdata digest failed");
  *out_len = n;
  return 0;
}

int veil_initdata_parse(struct veil_initdata *d, veil_error_t *err)
{
  if (veil_initdata_parse_toml(d, err) < 0 ||
      veil_initdata_digest(d->algorithm, d->toml, d->toml_len, d->digest, &d->digest_len, err) < 0)
    return veil_error_wrap(err, "invalid initdata");
  return 0;
}

static void put_le64(uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (uint8_t)(v >> (8 * i));
}

int veil_initdata_image_build(const struct veil_initdata *d, uint8_t **img, size_t *len,
                              veil_error_t *err)
{
  if (d->gzip_len == 0 || d->gzip_len > VEIL_INITDATA_MAX_GZIP)
    return veil_error_make(err, E2BIG, "initdata gzip of %zu bytes (the guest reads 1 to %u)",
                           d->gzip_len, VEIL_INITDATA_MAX_GZIP);
  size_t size = (VEIL_INITDATA_IMAGE_HEADER + d->gzip_len + 511) / 512 * 512;
  uint8_t *p = calloc(1, size);
  if (!p)
    return veil_error_errno(err, "allocate initdata image");
  memcpy(p, IMAGE_MAGIC, 8);
  put_le64(p + 8, d->gzip_len);
  memcpy(p + VEIL_INITDATA_IMAGE_HEADER, d->gzip, d->gzip_len);
  *img = p;
  *len = size;
  return 0;
}

int veil_initdata_image_header(const uint8_t *head, size_t len, uint64_t *gzip_len,
                               veil_error_t *err)
{
  if (len < VEIL_INITDATA_IMAGE_HEADER || memcmp(head, IMAGE_MAGIC, 8) != 0)
    return 0;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--)
    n = n << 8 | head[8 + i];
  if (n == 0 || n > VEIL_INITDATA_MAX_GZIP)
    return veil_error_make(err, EINVAL, "initdata image declares %llu bytes of gzip (1 to %u)",
                           (unsigned long long)n, VEIL_INITDATA_MAX_GZIP);
  *gzip_len = n;
  return 1;
}

int veil_initdata_from_image(const uint8_t *img, size_t len, struct veil_initdata **out,
                             veil_error_t *err)
{
  uint64_t glen = 0;
  int r = veil_initdata_image_header(img, len, &glen, err);
  if (r == 0)
    return veil_error_make(err, EINVAL, "not an initdata image (no `initdata` magic)");
  if (r < 0)
    return -1;
  if (glen > len - VEIL_INITDATA_IMAGE_HEADER)
    return veil_error_make(err, EINVAL, "initdata image declares %llu bytes of gzip but holds %zu",
                           (unsigned long long)glen, len - VEIL_INITDATA_IMAGE_HEADER);
  cleanup_with(veil_initdata_free) struct veil_initdata *d = calloc(1, sizeof(*d));
  if (!d || !(d->gzip = malloc(glen)))
    return veil_error_errno(err, "allocate");
  memcpy(d->gzip, img + VEIL_INITDATA_IMAGE_HEADER, glen);
  d->gzip_len = glen;
  if (veil_initdata_gunzip(d->gzip, d->gzip_len, &d->toml, &d->toml_len, err) < 0 ||
      veil_initdata_parse(d, err) < 0)
    return -1;
  *out = steal_pointer(&d);
  return 0;
}

char *veil_initdata_digest_feature(const char *algorithm, const uint8_t *digest, size_t len)
{
  static const char hex[] = "0123456789abcdef";
  size_t prefix = strlen(VEIL_INITDATA_DIGEST_FEATURE) + strlen(algorithm) + 1;
  char *s = malloc(prefix + 2 * len + 1);
  if (!s)
    return NULL;
  snprintf(s, prefix + 1, "%s%s:", VEIL_INITDATA_DIGEST_FEATURE, algorithm);
  for (size_t i = 0; i < len; i++) {
    s[prefix + 2 * i] = hex[digest[i] >> 4];
    s[prefix + 2 * i + 1] = hex[digest[i] & 0xf];
  }
  s[prefix + 2 * len] = '\0';
  return s;
}

static int hex_value(char c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int veil_initdata_digest_feature_parse(const char *feature, char algorithm[16],
                                       uint8_t digest[VEIL_INITDATA_MAX_DIGEST], size_t *len,
                                       veil_error_t *err)
{
  size_t plen = strlen(VEIL_INITDATA_DIGEST_FEATURE);
  if (strncmp(feature, VEIL_INITDATA_DIGEST_FEATURE, plen) != 0)
    return veil_error_make(err, EINVAL, "not an `%s<algorithm>:<hex>` feature",
                           VEIL_INITDATA_DIGEST_FEATURE);
  const char *alg = feature + plen, *colon = strchr(alg, ':');
  size_t alen = colon ? (size_t)(colon - alg) : 0;
  if (alen == 0 || alen > 15)
    return veil_error_make(err, EINVAL, "malformed initdata digest `%.80s`", feature);
  memcpy(algorithm, alg, alen);
  algorithm[alen] = '\0';
  const EVP_MD *md = algorithm_md(algorithm);
  if (!md)
    return veil_error_make(err, EINVAL, "initdata digest with unknown algorithm `%s`", algorithm);
  size_t want = (size_t)EVP_MD_size(md);
  const char *h = colon + 1;
  if (strlen(h) != 2 * want)
    return veil_error_make(err, EINVAL, "initdata %s digest of %zu hex digits (want %zu)",
                           algorithm, strlen(h), 2 * want);
  for (size_t i = 0; i < want; i++) {
    int hi = hex_value(h[2 * i]), lo = hex_value(h[2 * i + 1]);
    if (hi < 0 || lo < 0)
      return veil_error_make(err, EINVAL, "initdata digest is not lowercase hex");
    digest[i] = (uint8_t)(hi << 4 | lo);
  }
  *len = want;
  return 0;
}

int veil_initdata_binding(enum veil_tee tee, const uint8_t *digest, size_t digest_len,
                          uint8_t out[VEIL_INITDATA_MAX_DIGEST], size_t *len, char **b64,
                          veil_error_t *err)
{
  size_t field;
  switch (tee) {
  case VEIL_TEE_SNP: field = 32; break; /* host-data */
  case VEIL_TEE_TDX: field = 48; break; /* mrconfigid */
  default:
    return veil_error_make(err, ENOTSUP, "%s cannot bind an initdata digest to the TEE (no "
                           "host-data or mrconfigid field): use snp or tdx", veil_tee_name(tee));
  }
  memset(out, 0, VEIL_INITDATA_MAX_DIGEST);
  memcpy(out, digest, digest_len < field ? digest_len : field);
  *len = field;
  if (b64 && (*b64 = veil_base64_encode(out, field)) == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  return 0;
}
