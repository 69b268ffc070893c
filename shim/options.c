#include "shim/options.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bootstrap.pb-c.h"
#include "common/cleanup.h"
#include "github.com/containerd/containerd/pkg/runtimeoptions/v1/api.pb-c.h"
#include "google/protobuf/any.pb-c.h"

static int type_url_is(const char *type_url, const char *name)
{
  if (type_url == NULL)
    return 0;
  size_t n = strlen(type_url), m = strlen(name);
  /* bare name or any "<prefix>/<name>" form */
  return strcmp(type_url, name) == 0 ||
         (n > m && type_url[n - m - 1] == '/' && strcmp(type_url + n - m, name) == 0);
}

int shim_options_from_any_msg(const Google__Protobuf__Any *any, char **config_path,
                              veil_error_t *err)
{
  if (!type_url_is(any->type_url, "runtimeoptions.v1.Options"))
    return 0;
  Runtimeoptions__V1__Options *o =
      runtimeoptions__v1__options__unpack(NULL, any->value.len, any->value.data);
  if (o == NULL)
    return veil_error_make(err, EINVAL, "runtime options: malformed runtimeoptions.v1.Options");
  if (o->config_path && o->config_path[0]) {
    *config_path = strdup(o->config_path);
    if (*config_path == NULL) {
      runtimeoptions__v1__options__free_unpacked(o, NULL);
      return veil_error_make(err, ENOMEM, "out of memory");
    }
  }
  runtimeoptions__v1__options__free_unpacked(o, NULL);
  return 0;
}

int shim_options_from_any(const uint8_t *data, size_t len, char **config_path, veil_error_t *err)
{
  *config_path = NULL;
  if (len == 0)
    return 0;
  Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, len, data);
  if (any == NULL)
    return veil_error_make(err, EINVAL, "runtime options: not a google.protobuf.Any");
  int r = shim_options_from_any_msg(any, config_path, err);
  google__protobuf__any__free_unpacked(any, NULL);
  return r;
}

static int dup_nonempty(const char *in, char **out, veil_error_t *err)
{
  if (in == NULL || in[0] == '\0')
    return 0;
  *out = strdup(in);
  return *out ? 0 : veil_error_make(err, ENOMEM, "out of memory");
}

static int bootstrap_from_params(const Containerd__Runtime__Bootstrap__V1__BootstrapParams *bp,
                                 struct shim_bootstrap *out, veil_error_t *err)
{
  out->from_params = true;
  if (bp->socket_dir && bp->socket_dir[0] && bp->socket_dir[0] != '/')
    return veil_error_make(err, EINVAL,
                           "bootstrap params: socket_dir `%s` is not an absolute path",
                           bp->socket_dir);
  if (dup_nonempty(bp->containerd_ttrpc_address, &out->ttrpc_address, err) < 0 ||
      dup_nonempty(bp->socket_dir, &out->socket_dir, err) < 0)
    return -1;
  /* The runtime options travel as one of the extensions (an Any each). */
  for (size_t i = 0; i < bp->n_extensions && out->config_path == NULL; i++) {
    if (bp->extensions[i]->value &&
        shim_options_from_any_msg(bp->extensions[i]->value, &out->config_path, err) < 0)
      return -1;
  }
  return 0;
}

int shim_bootstrap_from_start_stdin(const uint8_t *data, size_t len, const char *id,
                                    const char *ns, struct shim_bootstrap *out,
                                    veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  if (len == 0)
    return 0;
  Containerd__Runtime__Bootstrap__V1__BootstrapParams *bp =
      containerd__runtime__bootstrap__v1__bootstrap_params__unpack(NULL, len, data);
  bool ours = bp && bp->instance_id && strcmp(bp->instance_id, id) == 0 && bp->namespace_ &&
              strcmp(bp->namespace_, ns) == 0;
  int r = ours ? bootstrap_from_params(bp, out, err)
               : shim_options_from_any(data, len, &out->config_path, err);
  if (bp)
    containerd__runtime__bootstrap__v1__bootstrap_params__free_unpacked(bp, NULL);
  if (r < 0)
    shim_bootstrap_clear(out);
  return r;
}

void shim_bootstrap_clear(struct shim_bootstrap *b)
{
  free(b->config_path);
  free(b->ttrpc_address);
  free(b->socket_dir);
  memset(b, 0, sizeof(*b));
}
