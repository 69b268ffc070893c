/* Command-line of containerd-shim-veil-v2, in Go flag syntax as containerd passes it:
 *   <shim> -namespace ns -address addr -publish-binary exe -id id [-bundle dir] [-debug] start|delete
 *   <shim> -info      (containerd 2.x: RuntimeInfo on stdout)
 * With no action the binary runs as the shim server (forked by `start`). */
#ifndef VEIL_SHIM_ARGS_H
#define VEIL_SHIM_ARGS_H

#include <stdbool.h>
#include "common/error.h"

struct shim_args {
  const char *namespace_;
  const char *address;        /* containerd's gRPC address */
  const char *publish_binary;
  const char *id;
  const char *bundle;         /* default: the working directory */
  const char *socket;         /* -socket: an explicit address for the server */
  bool debug;
  bool version;
  bool info;
  const char *action;         /* "start", "delete" or NULL (serve) */
};

int shim_args_parse(int argc, char **argv, struct shim_args *out, veil_error_t *err);

#endif
