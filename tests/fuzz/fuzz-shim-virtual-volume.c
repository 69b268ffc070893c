/* libFuzzer: a rootfs mount option io.katacontainers.volume=<base64 JSON> (from the
 * snapshotter, i.e. outside input) through decode, bounds and kata's validation; the input is
 * used both as the base64 text and, encoded, as the JSON. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "shim/virtual_volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *text = malloc(size + 1);
  if (text == NULL)
    return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  veil_error_t err = NULL;
  json_t *v = NULL;
  if (shim_virtual_volume_parse(text, &v, &err) == 0)
    json_decref(v);
  veil_error_release(&err);
  char *b64 = veil_base64_encode(data, size);
  if (b64) {
    size_t n = strlen(VIRTUAL_VOLUME_PREFIX) + strlen(b64) + 1;
    char *opt = malloc(n);
    if (opt) {
      snprintf(opt, n, VIRTUAL_VOLUME_PREFIX "%s", b64);
      char *opts[] = {"lowerdir=/l", opt};
      Containerd__Types__Mount m;
      containerd__types__mount__init(&m);
      m.options = opts;
      m.n_options = 2;
      Containerd__Types__Mount *mounts[] = {&m};
      json_t *meta = NULL;
      if (shim_rootfs_guest_pull_metadata(mounts, 1, &meta, &err) == 0)
        json_decref(meta);
      veil_error_release(&err);
      free(opt);
    }
    free(b64);
  }
  free(text);
  return 0;
}
