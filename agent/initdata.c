/* initdata disk reader (guest_init.h).
 * Layout (kata prepareInitdataImage): "initdata" (8 bytes), u64 little-endian
 * gzip length, gzip(TOML), zero padding to 512. The TOML names its digest
 * `algorithm = "sha256" | "sha384" | "sha512"`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <zlib.h>

#include "agent/guest_init.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"

#define INITDATA_MAGIC "initdata"
#define INITDATA_MAX_GZIP (1024 * 1024)
#define INITDATA_MAX_TOML (4 * 1024 * 1024)

static int gunzip(const unsigned char *in, size_t in_len, char **out, size_t *out_len,
                  veil_error_t *err)
{
  z_stream z = { 0 };
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
    return veil_error_make(err, EINVAL, "initdata: inflateInit failed");
  size_t cap = 64 * 1024, len = 0;
  char *buf = malloc(cap + 1);
  int rc = buf ? Z_OK : Z_MEM_ERROR;
  z.next_in = (unsigned char *)in;
  z.avail_in = (uInt)in_len;
  while (rc == Z_OK) {
    if (len == cap) {
      if (cap >= INITDATA_MAX_TOML) {
        rc = Z_BUF_ERROR;
        break;
      }
      cap *= 2;
      char *nb = realloc(buf, cap + 1);
      if (!nb) {
        rc = Z_MEM_ERROR;
        break;
      }
      buf = nb;
    }
    z.next_out = (unsigned char *)buf + len;
    z.avail_out = (uInt)(cap - len);
    rc = inflate(&z, Z_NO_FLUSH);
    len = cap - z.avail_out;
    if (rc == Z_BUF_ERROR && z.avail_in == 0)
      break;
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    free(buf);
    return veil_error_make(err, EINVAL, "initdata: bad gzip data or TOML larger than %d bytes",
                           INITDATA_MAX_TOML);
  }
  buf[len] = '\0';
  *out = buf;
  *out_len = len;
  return 0;
}

/* The value of a top-level `algorithm = "..."` line. */
static const char *toml_algorithm(const char *toml, size_t len, char *out, size_t size)
{
  const char *p = toml, *end = toml + len;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    while (p < le && (*p == ' ' || *p == '\t'))
      p++;
    if (*p == '[')
      break; /* tables start: top-level keys are over */
    if ((size_t)(le - p) > 9 && strncmp(p, "algorithm", 9) == 0) {
      const char *q = p + 9;
      while (q < le && (*q == ' ' || *q == '\t'))
        q++;
      if (q < le && *q == '=') {
        q++;
        while (q < le && (*q == ' ' || *q == '\t'))
          q++;
        if (q < le && (*q == '"' || *q == '\'')) {
          char quote = *q++;
          const char *e = memchr(q, quote, (size_t)(le - q));
          if (e && (size_t)(e - q) < size) {
            memcpy(out, q, (size_t)(e - q));
            out[e - q] = '\0';
            return out;
          }
        }
      }
    }
    p = le + 1;
  }
  return NULL;
}

char *initdata_digest_image(const unsigned char *img, size_t len, char **toml, size_t *toml_len,
                            veil_error_t *err)
{
  if (len < 16 || memcmp(img, INITDATA_MAGIC, 8) != 0)
    return veil_error_make(err, EINVAL, "initdata: no `initdata` magic"), NULL;
  uint64_t glen = 0;
  for (int i = 7; i >= 0; i--)
    glen = glen << 8 | img[8 + i];
  if (glen == 0 || glen > INITDATA_MAX_GZIP || glen > len - 16)
    return veil_error_make(err, EINVAL, "initdata: gzip length %llu out of range",
                           (unsigned long long)glen), NULL;
  cleanup_free char *t = NULL;
  size_t tl = 0;
  if (gunzip(img + 16, (size_t)glen, &t, &tl, err) < 0)
    return NULL;
  char alg[16];
  if (!toml_algorithm(t, tl, alg, sizeof(alg)))
    return veil_error_make(err, EINVAL, "initdata: TOML has no `algorithm`"), NULL;
  const EVP_MD *md = strcmp(alg, "sha256") == 0   ? EVP_sha256()
                     : strcmp(alg, "sha384") == 0 ? EVP_sha384()
                     : strcmp(alg, "sha512") == 0 ? EVP_sha512()
                                                  : NULL;
  if (!md)
    return veil_error_make(err, EINVAL,
                           "initdata: algorithm `%s` is not sha256, sha384 or sha512", alg), NULL;
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned dl = 0;
  if (!EVP_Digest(t, tl, d, &dl, md, NULL))
    return veil_error_make(err, EIO, "initdata: digest failed"), NULL;
  char *out = malloc(strlen(alg) + 2 + 2 * dl);
  if (!out)
    return veil_error_make(err, ENOMEM, "out of memory"), NULL;
  char *p = out + sprintf(out, "%s:", alg);
  for (unsigned i = 0; i < dl; i++)
    p += sprintf(p, "%02x", d[i]);
  if (toml) {
    *toml = steal_pointer(&t);
    *toml_len = tl;
  }
  return out;
}

char *guest_read_initdata(const char *dev_dir, const char *out_dir, veil_error_t *err)
{
  cleanup_dir DIR *d = opendir("/sys/block");
  if (!d)
    return NULL;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "vd", 2) != 0)
      continue;
    char dev[300];
    snprintf(dev, sizeof(dev), "%s/%s", dev_dir, e->d_name);
    cleanup_close int fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    unsigned char head[16];
    if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head) ||
        memcmp(head, INITDATA_MAGIC, 8) != 0)
      continue;
    uint64_t glen = 0;
    for (int i = 7; i >= 0; i--)
      glen = glen << 8 | head[8 + i];
    if (glen == 0 || glen > INITDATA_MAX_GZIP)
      return veil_error_make(err, EINVAL, "initdata disk %s: gzip length %llu out of range", dev,
                             (unsigned long long)glen), NULL;
    size_t n = 16 + (size_t)glen;
    cleanup_free unsigned char *img = malloc(n);
    if (!img)
      return veil_error_make(err, ENOMEM, "out of memory"), NULL;
    if (pread(fd, img, n, 0) != (ssize_t)n)
      return veil_error_make(err, EIO, "initdata disk %s: short read", dev), NULL;
    cleanup_free char *toml = NULL;
    size_t tl = 0;
    char *digest = initdata_digest_image(img, n, &toml, &tl, err);
    if (!digest) {
      veil_error_wrap(err, "initdata disk %s", dev);
      return NULL;
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/initdata.toml", out_dir);
    if (veil_mkdir_p(out_dir, 0700, err) < 0 || veil_write_file_atomic(path, toml, tl, 0600, err) < 0) {
      free(digest);
      return NULL;
    }
    log_info("initdata read disk=%s digest=%s", dev, digest);
    return digest;
  }
  return NULL;
}
