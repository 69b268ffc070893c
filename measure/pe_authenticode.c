/* Authenticode-style SHA-384 of a PE/COFF image, as measured by TDVF into RTMR1 and as
 * virtee/tdx-measure reproduces it (including its handling of trailing data and the
 * final zero padding to 8 bytes). Every header field is bounds-checked. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "measure/measure_bytes.h"
#include "measure/measure_tdx.h"

struct range {
  size_t off, size;
};

static int cmp_range(const void *a, const void *b)
{
  const struct range *x = a, *y = b;
  return x->off < y->off ? -1 : x->off > y->off;
}

static int field(const uint8_t *d, size_t len, size_t off, size_t width, uint64_t *v,
                 const char *what, veil_error_t *err)
{
  if (off > len || len - off < width)
    return veil_error_make(err, EINVAL, "kernel is not a PE image: %s at 0x%zx is outside the "
                           "file", what, off);
  *v = width == 2 ? veil_le16(d + off) : veil_le32(d + off);
  return 0;
}

int veil_pe_authenticode_sha384(const uint8_t *d, size_t len, uint8_t out[48], veil_error_t *err)
{
  uint64_t lfanew = 0, sig = 0, opt_size = 0, magic = 0, headers = 0, nsec = 0;
  if (field(d, len, 0x3c, 4, &lfanew, "e_lfanew", err) < 0 ||
      field(d, len, lfanew, 4, &sig, "PE signature", err) < 0)
    return -1;
  if (sig != 0x00004550)
    return veil_error_make(err, EINVAL, "kernel is not a PE image: no PE signature");
  size_t coff = lfanew + 4, opt = coff + 20;
  if (field(d, len, coff + 2, 2, &nsec, "section count", err) < 0 ||
      field(d, len, coff + 16, 2, &opt_size, "optional header size", err) < 0 ||
      field(d, len, opt, 2, &magic, "optional header magic", err) < 0 ||
      field(d, len, opt + 60, 4, &headers, "SizeOfHeaders", err) < 0)
    return -1;
  size_t checksum = opt + 64;
  size_t cert_dir = opt + (magic == 0x20b ? 112 : 96) + 4 * 8; /* IMAGE_DIRECTORY_ENTRY_SECURITY */
  uint64_t cert_addr = 0, cert_size = 0;
  if (field(d, len, cert_dir, 4, &cert_addr, "certificate directory", err) < 0 ||
      field(d, len, cert_dir + 4, 4, &cert_size, "certificate directory", err) < 0)
    return -1;
  if (headers > len || cert_dir + 8 > headers)
    return veil_error_make(err, EINVAL, "kernel is not a PE image: SizeOfHeaders 0x%zx is "
                           "inconsistent", (size_t)headers);
  size_t table = opt + opt_size;
  struct range *secs = calloc(nsec + 1, sizeof(*secs));
  if (!secs)
    return veil_error_errno(err, "allocate PE sections");
  size_t n = 0;
  for (size_t i = 0; i < nsec; i++) {
    uint64_t size = 0, ptr = 0;
    if (field(d, len, table + i * 40 + 16, 4, &size, "section header", err) < 0 ||
        field(d, len, table + i * 40 + 20, 4, &ptr, "section header", err) < 0) {
      free(secs);
      return -1;
    }
    if (size > 0)
      secs[n++] = (struct range){ ptr, size };
  }
  qsort(secs, n, sizeof(*secs), cmp_range);
  EVP_MD_CTX *h = EVP_MD_CTX_new();
  int ok = h && EVP_DigestInit_ex(h, EVP_sha384(), NULL) && EVP_DigestUpdate(h, d, checksum) &&
           EVP_DigestUpdate(h, d + checksum + 4, cert_dir - checksum - 4) &&
           EVP_DigestUpdate(h, d + cert_dir + 8, headers - cert_dir - 8);
  uint64_t hashed = headers;
  for (size_t i = 0; ok && i < n; i++) {
    if (secs[i].off < len) {
      size_t avail = len - secs[i].off;
      ok = EVP_DigestUpdate(h, d + secs[i].off, secs[i].size < avail ? secs[i].size : avail);
    }
    hashed += secs[i].size;
  }
  free(secs);
  if (ok && cert_addr > 0 && cert_size > 0 && len > hashed && len - hashed > cert_size)
    ok = EVP_DigestUpdate(h, d + hashed, len - hashed - cert_size);
  static const uint8_t zeros[8];
  if (ok && len % 8)
    ok = EVP_DigestUpdate(h, zeros, 8 - len % 8);
  ok = ok && EVP_DigestFinal_ex(h, out, NULL);
  EVP_MD_CTX_free(h);
  return ok ? 0 : veil_error_make(err, EIO, "SHA-384 failed");
}
