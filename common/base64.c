#include "common/base64.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *veil_base64_encode(const void *data, size_t len)
{
  const uint8_t *in = data;
  char *out = malloc(4 * ((len + 2) / 3) + 1);
  if (out == NULL)
    return NULL;
  size_t o = 0;
  for (size_t i = 0; i < len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < len)
      v |= in[i + 2];
    out[o++] = alphabet[(v >> 18) & 63];
    out[o++] = alphabet[(v >> 12) & 63];
    out[o++] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < len ? alphabet[v & 63] : '=';
  }
  out[o] = '\0';
  return out;
}

static int sextet(char c)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  return c == '+' ? 62 : c == '/' ? 63 : -1;
}

int veil_base64_decode(const char *in, size_t max_len, uint8_t **out, size_t *len,
                       veil_error_t *err)
{
  size_t n = strlen(in);
  if (n / 4 * 3 > max_len + 3)
    return veil_error_make(err, E2BIG, "base64 text of %zu bytes decodes to more than %zu bytes",
                           n, max_len);
  uint8_t *buf = malloc(n / 4 * 3 + 4);
  if (buf == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  uint32_t acc = 0;
  size_t bits = 0, o = 0, pad = 0;
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
      continue;
    if (c == '=') {
      pad++;
      continue;
    }
    int v = sextet(c);
    if (v < 0 || pad) {
      free(buf);
      return veil_error_make(err, EINVAL, "not valid base64 (bad character at offset %zu)", i);
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (uint8_t)(acc >> bits);
    }
  }
  if (bits >= 6 || pad > 2 || o > max_len) {
    free(buf);
    return veil_error_make(err, EINVAL, "not valid base64 (bad length)");
  }
  buf[o] = '\0';
  *out = buf;
  *len = o;
  return 0;
}
