/* containerd-shim-veil-v2: dispatches to `start`, `delete`, `-info` or the shim server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/log.h"
#include "shim/args.h"
#include "shim/commands.h"

int main(int argc, char **argv)
{
  cleanup_error veil_error_t err = NULL;
  struct shim_args args;

  veil_log_set_component("veil-shim");
  if (shim_args_parse(argc, argv, &args, &err) < 0) {
    fprintf(stderr, "containerd-shim-veil-v2: %s\n", err->msg);
    return 2;
  }
  if (args.version) {
    printf("containerd-shim-veil-v2:\n  Version: %s\n  Runtime: io.containerd.veil.v2\n",
           VEIL_VERSION);
    return 0;
  }
  if (args.info)
    return shim_cmd_info();
  if (args.debug)
    veil_log_set_level(VEIL_LOG_DEBUG);
  if (args.action == NULL)
    return shim_cmd_serve(&args);
  if (args.id[0] == '\0') {
    fprintf(stderr, "containerd-shim-veil-v2: -id is required\n");
    return 2;
  }
  if (strcmp(args.action, "start") == 0)
    return shim_cmd_start(&args);
  return shim_cmd_delete(&args);
}
