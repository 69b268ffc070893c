/* SEV hashes table (see sev_hashes.h). */
#include "measure/sev_hashes.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "measure/measure_bytes.h"

static const uint8_t guid_table[16] = { /* 9438d606-4f22-4cc9-b479-a793d411fd21 */
  0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c, 0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21 };
static const uint8_t guid_cmdline[16] = { /* 97d02dd8-bd20-4c94-aa78-e7714d36ab2a */
  0xd8, 0x2d, 0xd0, 0x97, 0x20, 0xbd, 0x94, 0x4c, 0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a };
static const uint8_t guid_initrd[16] = { /* 44baf731-3a2f-4bd7-9af1-41e29169781d */
  0x31, 0xf7, 0xba, 0x44, 0x2f, 0x3a, 0xd7, 0x4b, 0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d };
static const uint8_t guid_kernel[16] = { /* 4de79437-abd2-427f-b835-d5b172d2045b */
  0x37, 0x94, 0xe7, 0x4d, 0xd2, 0xab, 0x7f, 0x42, 0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b };

enum { ENTRY_SIZE = 16 + 2 + 32 };

static uint8_t *put_entry(uint8_t *p, const uint8_t guid[16], const uint8_t hash[32])
{
  memcpy(p, guid, 16);
  veil_put_le16(p + 16, ENTRY_SIZE);
  memcpy(p + 18, hash, 32);
  return p + ENTRY_SIZE;
}

void veil_sev_hashes_table_build(const uint8_t kernel[32], const uint8_t initrd[32],
                                 const uint8_t cmdline[32], uint8_t out[VEIL_SEV_HASHES_PADDED_SIZE])
{
  memset(out, 0, VEIL_SEV_HASHES_PADDED_SIZE);
  memcpy(out, guid_table, 16);
  veil_put_le16(out + 16, VEIL_SEV_HASHES_TABLE_SIZE);
  uint8_t *p = out + 18;
  p = put_entry(p, guid_cmdline, cmdline);
  p = put_entry(p, guid_initrd, initrd);
  put_entry(p, guid_kernel, kernel);
}

int veil_digest_file(const char *path, const struct evp_md_st *md, uint8_t *out, veil_error_t *err)
{
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return veil_error_errno(err, "open `%s`", path);
  EVP_MD_CTX *h = EVP_MD_CTX_new();
  if (!h || !EVP_DigestInit_ex(h, md, NULL)) {
    EVP_MD_CTX_free(h);
    return veil_error_make(err, EIO, "OpenSSL digest init failed");
  }
  uint8_t buf[16384];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      EVP_MD_CTX_free(h);
      return veil_error_errno(err, "read `%s`", path);
    }
    if (n == 0)
      break;
    if (!EVP_DigestUpdate(h, buf, (size_t)n)) {
      EVP_MD_CTX_free(h);
      return veil_error_make(err, EIO, "OpenSSL digest update failed");
    }
  }
  int ok = EVP_DigestFinal_ex(h, out, NULL);
  EVP_MD_CTX_free(h);
  return ok ? 0 : veil_error_make(err, EIO, "OpenSSL digest final failed");
}

int veil_sev_hashes_table(const char *kernel, const char *initrd, const char *cmdline,
                          uint8_t out[VEIL_SEV_HASHES_PADDED_SIZE], veil_error_t *err)
{
  uint8_t hk[32], hi[32], hc[32];
  if (veil_digest_file(kernel, EVP_sha256(), hk, err) < 0)
    return veil_error_wrap(err, "hash kernel");
  if (initrd && *initrd) {
    if (veil_digest_file(initrd, EVP_sha256(), hi, err) < 0)
      return veil_error_wrap(err, "hash initrd");
  } else if (!EVP_Digest("", 0, hi, NULL, EVP_sha256(), NULL)) {
    return veil_error_make(err, EIO, "SHA-256 failed");
  }
  const char *c = cmdline ? cmdline : "";
  if (!EVP_Digest(c, strlen(c) + 1, hc, NULL, EVP_sha256(), NULL))
    return veil_error_make(err, EIO, "SHA-256 failed");
  veil_sev_hashes_table_build(hk, hi, hc, out);
  return 0;
}
