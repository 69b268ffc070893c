/* `-info`: containerd 2.x asks each runtime what it is and what it supports (the CRI once per
 * runtime handler at start-up, to decide on user namespaces and recursive read-only mounts;
 * the task manager before idmap mounts). stdin is the runtime options Any (possibly empty),
 * stdout a containerd.types.RuntimeInfo whose features are OCI runtime-spec features JSON.
 * veil advertises no user namespaces, idmap or rro mounts: the guest side of those is not
 * wired up, so the CRI must not ask for them. Errors go to stderr (containerd reads stdout
 * alone here and shows stderr). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "google/protobuf/any.pb-c.h"
#include "introspection.pb-c.h"
#include "shim/commands.h"

#define INFO_STDIN_MAX (1u << 20)
/* typeurl's name for github.com/opencontainers/runtime-spec/specs-go/features.Features */
#define FEATURES_TYPE_URL "types.containerd.io/opencontainers/runtime-spec/1/features/Features"

static const char features_json[] =
    "{\"ociVersionMin\":\"1.0.0\",\"ociVersionMax\":\"1.2.1\","
    "\"linux\":{\"namespaces\":[\"cgroup\",\"ipc\",\"mount\",\"network\",\"pid\",\"uts\"]}}";

int shim_cmd_info(void)
{
  cleanup_error veil_error_t err = NULL;
  cleanup_free char *input = NULL;
  cleanup_free uint8_t *buf = NULL;
  size_t input_len = 0;
  Google__Protobuf__Any *options = NULL;

  if (veil_read_fd_all(0, INFO_STDIN_MAX, &input, &input_len, &err) < 0)
    goto fail;
  if (input_len > 0) {
    options = google__protobuf__any__unpack(NULL, input_len, (const uint8_t *)input);
    if (options == NULL) {
      veil_error_make(&err, EINVAL, "runtime options on stdin: not a google.protobuf.Any");
      goto fail;
    }
  }

  Containerd__Types__RuntimeVersion version = CONTAINERD__TYPES__RUNTIME_VERSION__INIT;
  version.version = VEIL_VERSION;
  version.revision = "";
  Google__Protobuf__Any features = GOOGLE__PROTOBUF__ANY__INIT;
  features.type_url = FEATURES_TYPE_URL;
  features.value.data = (uint8_t *)features_json;
  features.value.len = sizeof(features_json) - 1;
  Containerd__Types__RuntimeInfo info = CONTAINERD__TYPES__RUNTIME_INFO__INIT;
  info.name = "io.containerd.veil.v2";
  info.version = &version;
  info.options = options;
  info.features = &features;

  size_t len = containerd__types__runtime_info__get_packed_size(&info);
  buf = malloc(len ? len : 1);
  if (buf == NULL) {
    veil_error_make(&err, ENOMEM, "out of memory");
    goto fail;
  }
  containerd__types__runtime_info__pack(&info, buf);
  if (options)
    google__protobuf__any__free_unpacked(options, NULL);
  options = NULL;
  if (veil_write_all(1, buf, len, &err) < 0)
    goto fail;
  return 0;

fail:
  if (options)
    google__protobuf__any__free_unpacked(options, NULL);
  fprintf(stderr, "containerd-shim-veil-v2 -info: %s\n", err ? err->msg : "unknown error");
  return 1;
}
