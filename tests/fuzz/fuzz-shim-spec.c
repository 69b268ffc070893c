/* config.json from the bundle (user input) → grpc.Spec conversion and kata-style trimming. */
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "shim/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  veil_error_t err = NULL;
  json_t *j = shim_spec_parse((const char *)data, size, &err);
  veil_error_release(&err);
  if (j == NULL)
    return 0;
  for (int shared = 0; shared < 2; shared++) {
    struct spec_result r;
    if (shim_spec_build(j, "fuzz", "/run/kata-containers/shared/containers/fuzz/rootfs",
                        shared, &r, &err) == 0)
      shim_spec_result_clear(&r);
    veil_error_release(&err);
  }
  json_decref(j);
  return 0;
}
