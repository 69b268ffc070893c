/* Fuzz the runtime config loader (strict JSON -> struct veil_config). */
#include <stddef.h>
#include <stdint.h>

#include "hypervisor/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct veil_config *c = NULL;
  veil_error_t err = NULL;
  if (veil_config_parse("fuzz.json", (const char *)data, size, &c, &err) == 0) {
    /* a config that loads satisfies the invariants the VM code relies on */
    if (c->vcpus == 0 || c->memory_mb == 0 || c->kernel[0] != '/' || c->enable_annotations == NULL)
      __builtin_trap();
    veil_config_free(c);
  } else if (err == NULL || err->msg == NULL) {
    __builtin_trap();
  }
  veil_error_release(&err);
  return 0;
}
