/* Fuzz the guest side of initdata: the disk image reader veil-agent runs on what it finds on
 * a virtio-blk disk (common/initdata.h: header, bounded multi-member gunzip, TOML, digest), and
 * the parser the shim runs on the agent's "initdata-digest=" report. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/initdata.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  veil_error_t err = NULL;
  struct veil_initdata *d = NULL;
  if (veil_initdata_from_image(data, size, &d, &err) == 0) {
    char *f = veil_initdata_digest_feature(d->algorithm, d->digest, d->digest_len);
    char alg[16];
    uint8_t digest[VEIL_INITDATA_MAX_DIGEST];
    size_t len;
    /* what the agent reports, the shim reads back unchanged */
    if (f && (veil_initdata_digest_feature_parse(f, alg, digest, &len, &err) < 0 ||
              len != d->digest_len || memcmp(digest, d->digest, len) != 0))
      abort();
    free(f);
    veil_initdata_free(d);
  }
  veil_error_release(&err);
  char *s = malloc(size + 1);
  if (!s)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  char alg[16];
  uint8_t digest[VEIL_INITDATA_MAX_DIGEST];
  size_t len;
  veil_initdata_digest_feature_parse(s, alg, digest, &len, &err);
  veil_error_release(&err);
  free(s);
  return 0;
}
