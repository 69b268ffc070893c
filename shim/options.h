/* What containerd tells the shim: the stdin of `start` (legacy google.protobuf.Any of
 * runtimeoptions.v1.Options, or containerd 2.3+ BootstrapParams whose extensions carry that
 * Any) and CreateTaskRequest.options. veil reads ConfigPath from the options and, from
 * BootstrapParams, containerd's ttrpc address (events) and the shim socket directory. */
#ifndef VEIL_SHIM_OPTIONS_H
#define VEIL_SHIM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "common/error.h"
#include "google/protobuf/any.pb-c.h"

/* Decode an Any; if it holds runtimeoptions.v1.Options, *config_path = its ConfigPath
 * (malloc'd, NULL when empty). Other option types are ignored (config_path stays NULL). */
int shim_options_from_any(const uint8_t *data, size_t len, char **config_path,
                          veil_error_t *err);
/* The same on an already decoded Any (CreateTaskRequest.options). */
int shim_options_from_any_msg(const Google__Protobuf__Any *any, char **config_path,
                              veil_error_t *err);

/* The parts of `start`'s stdin veil uses; every string malloc'd, NULL when not given. */
struct shim_bootstrap {
  bool from_params;    /* stdin was a BootstrapParams for this -id / -namespace */
  char *config_path;   /* runtimeoptions.v1.Options ConfigPath */
  char *ttrpc_address; /* BootstrapParams.containerd_ttrpc_address (else $TTRPC_ADDRESS) */
  char *socket_dir;    /* BootstrapParams.socket_dir (else SHIM_SOCKET_DIR) */
};

/* The stdin of `start`: empty, a legacy Any, or BootstrapParams. BootstrapParams is taken
 * only when its instance_id and namespace equal -id and -namespace (a legacy Any can decode
 * as one with garbage in those fields); its socket_dir must be an absolute path. */
int shim_bootstrap_from_start_stdin(const uint8_t *data, size_t len, const char *id,
                                    const char *ns, struct shim_bootstrap *out,
                                    veil_error_t *err);
void shim_bootstrap_clear(struct shim_bootstrap *b);

#endif
