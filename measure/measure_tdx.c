/* TDX RTMR1/RTMR2 for direct kernel boot (see measure_tdx.h). */
#include "measure/measure_tdx.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "measure/sev_hashes.h"

static int sha384(const void *data, size_t len, uint8_t out[48], veil_error_t *err)
{
  return EVP_Digest(data, len, out, NULL, EVP_sha384(), NULL)
             ? 0 : veil_error_make(err, EIO, "SHA-384 failed");
}

/* RTMR = SHA384(RTMR || event digest), starting from zero */
static int extend(uint8_t rtmr[48], const uint8_t digest[48], veil_error_t *err)
{
  uint8_t buf[96];
  memcpy(buf, rtmr, 48);
  memcpy(buf + 48, digest, 48);
  return sha384(buf, sizeof(buf), rtmr, err);
}

/* UTF-8 -> UTF-16LE with a terminating NUL; invalid UTF-8 is rejected. */
static int utf16le(const char *s, uint8_t **out, size_t *len, veil_error_t *err)
{
  size_t n = strlen(s);
  uint8_t *buf = malloc(4 * n + 2);
  if (!buf)
    return veil_error_errno(err, "allocate command line");
  size_t o = 0;
  const unsigned char *p = (const unsigned char *)s;
  while (*p) {
    uint32_t cp;
    int extra = *p < 0x80 ? 0 : (*p & 0xe0) == 0xc0 ? 1 : (*p & 0xf0) == 0xe0 ? 2 : (*p & 0xf8) == 0xf0 ? 3 : -1;
    if (extra < 0)
      goto bad;
    cp = extra == 0 ? *p : *p & (0x3f >> extra);
    p++;
    for (int i = 0; i < extra; i++, p++) {
      if ((*p & 0xc0) != 0x80)
        goto bad;
      cp = (cp << 6) | (*p & 0x3f);
    }
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      goto bad;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      uint16_t hi = (uint16_t)(0xd800 | (cp >> 10)), lo = (uint16_t)(0xdc00 | (cp & 0x3ff));
      buf[o++] = (uint8_t)hi, buf[o++] = (uint8_t)(hi >> 8);
      buf[o++] = (uint8_t)lo, buf[o++] = (uint8_t)(lo >> 8);
    } else {
      buf[o++] = (uint8_t)cp, buf[o++] = (uint8_t)(cp >> 8);
    }
  }
  buf[o++] = 0, buf[o++] = 0;
  *out = buf;
  *len = o;
  return 0;
bad:
  free(buf);
  return veil_error_make(err, EINVAL, "kernel command line is not valid UTF-8");
}

int veil_tdx_cmdline_event(const char *cmdline, int has_initrd, uint8_t out[48], veil_error_t *err)
{
  /* TDVF's QEMU loader appends " initrd=initrd" to the load options when an initrd is given */
  cleanup_free char *full = NULL;
  if (asprintf(&full, "%s%s", cmdline ? cmdline : "", has_initrd ? " initrd=initrd" : "") < 0)
    return veil_error_errno(err, "allocate command line");
  cleanup_free uint8_t *u16 = NULL;
  size_t len = 0;
  if (utf16le(full, &u16, &len, err) < 0)
    return -1;
  return sha384(u16, len, out, err);
}

int veil_measure_tdx_rtmrs(const char *kernel, const char *initrd, const char *cmdline,
                           struct veil_measure_result *out, veil_error_t *err)
{
  static const char *const rtmr1_events[] = {
    "Calling EFI Application from Boot Option",
    NULL, /* separator: 4 zero bytes */
    "Exit Boot Services Invocation",
    "Exit Boot Services Returned with Success",
  };
  cleanup_free char *image = NULL;
  size_t len = 0;
  uint8_t digest[48];
  if (veil_read_file(kernel, VEIL_MEASURE_MAX_KERNEL, &image, &len, err) < 0)
    return veil_error_wrap(err, "read kernel");
  cleanup_error veil_error_t pe_err = NULL;
  memset(out->rtmr1, 0, 48);
  if (veil_pe_authenticode_sha384((const uint8_t *)image, len, digest, &pe_err) == 0) {
    if (extend(out->rtmr1, digest, err) < 0)
      return -1;
    for (size_t i = 0; i < sizeof(rtmr1_events) / sizeof(rtmr1_events[0]); i++) {
      const char *ev = rtmr1_events[i];
      if (sha384(ev ? ev : "\0\0\0\0", ev ? strlen(ev) : 4, digest, err) < 0 ||
          extend(out->rtmr1, digest, err) < 0)
        return -1;
    }
    out->has_rtmr1 = true;
  }
  /* RTMR2: the load options (only present with a command line or an initrd), then the initrd */
  memset(out->rtmr2, 0, 48);
  bool has_initrd = initrd && *initrd;
  if ((cmdline && *cmdline) || has_initrd) {
    if (veil_tdx_cmdline_event(cmdline, has_initrd, digest, err) < 0 ||
        extend(out->rtmr2, digest, err) < 0)
      return -1;
  }
  if (has_initrd) {
    if (veil_digest_file(initrd, EVP_sha384(), digest, err) < 0)
      return veil_error_wrap(err, "hash initrd");
    if (extend(out->rtmr2, digest, err) < 0)
      return -1;
  }
  out->has_rtmr2 = true;
  return 0;
}
