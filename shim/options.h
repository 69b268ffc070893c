/* Runtime options from containerd: the stdin of `start` (legacy google.protobuf.Any of
 * runtimeoptions.v1.Options, or containerd 2.3+ BootstrapParams whose extensions carry
 * that Any) and CreateTaskRequest.options. veil only reads ConfigPath. */
#ifndef VEIL_SHIM_OPTIONS_H
#define VEIL_SHIM_OPTIONS_H

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
/* The stdin of `start`: empty, a legacy Any, or BootstrapParams (accepted only when its
 * instance_id and namespace equal -id and -namespace, as containerd's shim library does). */
int shim_options_from_start_stdin(const uint8_t *data, size_t len, const char *id,
                                  const char *ns, char **config_path, veil_error_t *err);

#endif
