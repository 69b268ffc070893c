/* config.json from the bundle (user input) → grpc.Spec conversion and kata-style trimming;
 * its process as an exec's (the exec spec is user input too). */
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
    struct spec_guest g = {"/run/kata-containers/shared/containers/fuzz/rootfs", shared,
                           shared ? 0 : SANDBOX_SHM_DEFAULT_SIZE};
    if (shim_spec_build(j, "fuzz", &g, &r, &err) == 0)
      shim_spec_result_clear(&r);
    veil_error_release(&err);
    /* the exec path: the spec's process as an exec's */
    json_t *process = json_object_get(j, "process");
    Grpc__Process *p = process ? shim_exec_process_build(process, shared, &err) : NULL;
    if (p)
      protobuf_c_message_free_unpacked(&p->base, NULL);
    veil_error_release(&err);
  }
  json_decref(j);
  return 0;
}
