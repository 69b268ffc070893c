#include "text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 character at p (1..4), 0 if none starts there. */
static size_t utf8_char(const unsigned char *p, size_t n, int keep_newlines)
{
  if ((p[0] >= 0x20 && p[0] < 0x7f) || (keep_newlines && p[0] == '\n'))
    return 1;
  size_t need;
  uint32_t cp, min;
  if ((p[0] & 0xe0) == 0xc0) {
    need = 2, cp = p[0] & 0x1f, min = 0x80;
  } else if ((p[0] & 0xf0) == 0xe0) {
    need = 3, cp = p[0] & 0x0f, min = 0x800;
  } else if ((p[0] & 0xf8) == 0xf0) {
    need = 4, cp = p[0] & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (n < need)
    return 0;
  for (size_t i = 1; i < need; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
      (cp >= 0x80 && cp < 0xa0)) /* C1 controls */
    return 0;
  return need;
}

static char *sanitize(const char *in, size_t len, size_t max_bytes, int keep_newlines)
{
  size_t take = len < max_bytes ? len : max_bytes;
  char *out = malloc(take * 4 + 48); /* worst case: every byte escaped */
  if (out == NULL)
    return NULL;
  const unsigned char *p = (const unsigned char *)(in ? in : "");
  size_t o = 0;
  for (size_t i = 0; i < take;) {
    size_t n = utf8_char(p + i, take - i, keep_newlines);
    if (n > 0) {
      memcpy(out + o, p + i, n);
      o += n;
      i += n;
    } else {
      o += (size_t)sprintf(out + o, "\\x%02x", p[i]);
      i++;
    }
  }
  if (take < len)
    o += (size_t)sprintf(out + o, "...(%zu bytes cut)", len - take);
  out[o] = '\0';
  return out;
}

char *veil_text_sanitize(const char *in, size_t len, size_t max_bytes)
{
  return sanitize(in, len, max_bytes, 0);
}

char *veil_text_sanitize_lines(const char *in, size_t len, size_t max_bytes)
{
  return sanitize(in, len, max_bytes, 1);
}
