/* libFuzzer: common/text.c on arbitrary guest bytes. The output must be printable UTF-8 (no
 * control byte but the kept newline), bounded, and a fixed point (sanitizing it again changes
 * nothing). mountinfo parsing rides along: arbitrary "mountinfo" text never crashes and every
 * result lies below the asked directory. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/mountinfo.h"
#include "common/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  size_t max = size ? data[0] * 8u : 0;
  for (int lines = 0; lines < 2; lines++) {
    char *out = lines ? veil_text_sanitize_lines((const char *)data, size, max)
                      : veil_text_sanitize((const char *)data, size, max);
    if (out == NULL)
      abort();
    size_t n = strlen(out);
    if (n > max * 4 + 48)
      abort();
    for (size_t i = 0; i < n; i++) {
      unsigned char c = (unsigned char)out[i];
      if ((c < 0x20 && !(lines && c == '\n')) || c == 0x7f)
        abort();
    }
    char *again = lines ? veil_text_sanitize_lines(out, n, n) : veil_text_sanitize(out, n, n);
    if (again == NULL || strcmp(again, out) != 0)
      abort();
    free(again);
    free(out);
  }
  cleanup_strv char **points = NULL;
  veil_error_t err = NULL;
  if (veil_mounts_below_in((const char *)data, size, "/run/x", &points, &err) == 0) {
    for (char **p = points; *p; p++)
      if (strncmp(*p, "/run/x", 6) != 0 || ((*p)[6] != '/' && (*p)[6] != '\0'))
        abort();
  }
  veil_error_release(&err);
  return 0;
}
