/* Fuzz the host side of initdata: the pod annotation (base64 of gzip of TOML) and the TOML
 * reader directly. Untrusted input from the pod spec: must never crash, leak or hang. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "measure/initdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  veil_error_t err = NULL;
  struct veil_initdata *d = NULL;
  /* as raw TOML (exercises the reader without gzip in the way) */
  if (veil_initdata_from_toml((const char *)data, size, &d, &err) == 0) {
    uint8_t bound[64];
    size_t len;
    char *b64 = NULL;
    if (veil_initdata_binding(VEIL_TEE_TDX, d->digest, d->digest_len, bound, &len, &b64, &err) == 0)
      free(b64);
    veil_initdata_get(d, "policy.rego");
    veil_initdata_free(d);
    d = NULL;
  }
  veil_error_release(&err);
  /* as an annotation value */
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  if (veil_initdata_from_annotation(s, &d, &err) == 0)
    veil_initdata_free(d);
  veil_error_release(&err);
  free(s);
  return 0;
}
