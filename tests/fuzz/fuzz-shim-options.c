/* The stdin of `shim start` (legacy runtime-options Any or BootstrapParams) and
 * CreateTaskRequest.options. */
#include <stdint.h>
#include <stdlib.h>

#include "common/error.h"
#include "shim/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  veil_error_t err = NULL;
  struct shim_bootstrap boot;
  shim_bootstrap_from_start_stdin(data, size, "pod1", "k8s.io", &boot, &err);
  shim_bootstrap_clear(&boot);
  veil_error_release(&err);
  char *path = NULL;
  shim_options_from_any(data, size, &path, &err);
  free(path);
  veil_error_release(&err);
  return 0;
}
