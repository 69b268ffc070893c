/* Fuzz veil-agent's initdata image parser (magic, length, gzip, TOML algorithm). */
#include <stdint.h>
#include <stdlib.h>

#include "agent/guest_init.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  veil_error_t err = NULL;
  char *toml = NULL;
  size_t toml_len = 0;
  char *d = initdata_digest_image(data, size, &toml, &toml_len, &err);
  free(d);
  free(toml);
  veil_error_release(&err);
  return 0;
}
