/* Fuzz the QEMU firmware descriptor check for every TEE. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "hypervisor/firmware.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  for (int t = 0; t < VEIL_TEE_SE; t++) {
    char *exe = NULL, *reason = NULL;
    int r = veil_firmware_descriptor_check((const char *)data, size, (enum veil_tee)t, &exe, &reason);
    if (r == 0 && (exe == NULL || exe[0] != '/'))
      __builtin_trap();
    free(exe);
    free(reason);
  }
  return 0;
}
