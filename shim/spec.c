#include "shim/spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "shim/json_pb.h"

json_t *shim_spec_parse(const char *text, size_t len, veil_error_t *err)
{
  json_error_t jerr;
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (j == NULL) {
    veil_error_make(err, EINVAL, "config.json is not valid JSON: %s (line %d, column %d)",
                    jerr.text, jerr.line, jerr.column);
    return NULL;
  }
  if (!json_is_object(j)) {
    json_decref(j);
    veil_error_make(err, EINVAL, "config.json: expected a JSON object");
    return NULL;
  }
  json_t *process = json_object_get(j, "process");
  if (process != NULL && !json_is_object(process)) {
    json_decref(j);
    veil_error_make(err, EINVAL, "config.json: `process` must be an object");
    return NULL;
  }
  json_t *root = json_object_get(j, "root");
  if (root != NULL && !json_is_object(root)) {
    json_decref(j);
    veil_error_make(err, EINVAL, "config.json: `root` must be an object");
    return NULL;
  }
  return j;
}

static void free_strv_n(char **v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

static bool has_option(const Grpc__Mount *m, const char *opt)
{
  for (size_t i = 0; i < m->n_options; i++)
    if (strcmp(m->options[i], opt) == 0)
      return true;
  return false;
}

static int set_string(char **field, const char *value, veil_error_t *err)
{
  char *s = strdup(value);
  if (s == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (*field && *field != protobuf_c_empty_string)
    free(*field);
  *field = s;
  return 0;
}

/* /dev/shm from the host (CRI's sandbox shm) becomes a private tmpfs in the guest. */
static int make_shm_tmpfs(Grpc__Mount *m, veil_error_t *err)
{
  static const char *const opts[] = {"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"};
  if (set_string(&m->type, "tmpfs", err) < 0 || set_string(&m->source, "shm", err) < 0)
    return -1;
  free_strv_n(m->options, m->n_options);
  m->n_options = 0;
  m->options = calloc(5, sizeof(char *));
  if (m->options == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  for (size_t i = 0; i < 5; i++) {
    m->options[i] = strdup(opts[i]);
    if (m->options[i] == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    m->n_options++;
  }
  return 0;
}

static int rewrite_mounts(Grpc__Spec *spec, const char *cid, bool have_shared_fs,
                          struct spec_result *out, veil_error_t *err)
{
  size_t kept = 0;
  out->shares = calloc(spec->n_mounts ? spec->n_mounts : 1, sizeof(*out->shares));
  if (out->shares == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  size_t i = 0;
  for (; i < spec->n_mounts; i++) {
    Grpc__Mount *m = spec->mounts[i];
    bool is_bind = strcmp(m->type, "bind") == 0 || has_option(m, "bind") || has_option(m, "rbind");
    if (is_bind && strcmp(m->destination, "/dev/shm") == 0) {
      if (make_shm_tmpfs(m, err) < 0)
        goto fail;
    } else if (is_bind) {
      if (!have_shared_fs) {
        /* No host filesystem reaches a TEE guest: drop the bind. */
        protobuf_c_message_free_unpacked(&m->base, NULL);
        spec->mounts[i] = NULL;
        out->n_dropped_mounts++;
        continue;
      }
      char name[256];
      snprintf(name, sizeof(name), "%s-mount%zu", cid, i);
      char guest[512];
      snprintf(guest, sizeof(guest), "%s/%s", GUEST_SHARED_DIR, name);
      struct spec_share *sh = &out->shares[out->n_shares];
      sh->host_source = strdup(m->source);
      sh->name = strdup(name);
      sh->readonly = has_option(m, "ro");
      out->n_shares++;
      if (sh->host_source == NULL || sh->name == NULL) {
        veil_error_make(err, ENOMEM, "out of memory");
        goto fail;
      }
      if (set_string(&m->source, guest, err) < 0)
        goto fail;
    }
    spec->mounts[kept++] = spec->mounts[i];
  }
  spec->n_mounts = kept;
  return 0;

fail:
  /* keep the array dense (entries from i on are unprocessed) so the spec can be freed */
  for (size_t j = i; j < spec->n_mounts; j++)
    if (spec->mounts[j])
      spec->mounts[kept++] = spec->mounts[j];
  spec->n_mounts = kept;
  return -1;
}

static int trim_linux(Grpc__Linux *lx, const char *cid, veil_error_t *err)
{
  if (lx->seccomp) {
    protobuf_c_message_free_unpacked(&lx->seccomp->base, NULL);
    lx->seccomp = NULL;
  }
  size_t kept = 0;
  for (size_t i = 0; i < lx->n_namespaces; i++) {
    Grpc__LinuxNamespace *ns = lx->namespaces[i];
    if (strcmp(ns->type, "network") == 0 || strcmp(ns->type, "cgroup") == 0 ||
        strcmp(ns->type, "time") == 0) {
      protobuf_c_message_free_unpacked(&ns->base, NULL);
      continue;
    }
    if (set_string(&ns->path, "", err) < 0)
      return -1;
    lx->namespaces[kept++] = ns;
  }
  lx->n_namespaces = kept;
  /* Host device nodes do not exist in the guest. */
  for (size_t i = 0; i < lx->n_devices; i++)
    protobuf_c_message_free_unpacked(&lx->devices[i]->base, NULL);
  lx->n_devices = 0;
  char cg[300];
  snprintf(cg, sizeof(cg), "/veil/%s", cid);
  return set_string(&lx->cgroupspath, cg, err);
}

int shim_spec_build(const json_t *oci, const char *container_id, const char *guest_rootfs,
                    bool have_shared_fs, struct spec_result *out, veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  Grpc__Spec *spec = (Grpc__Spec *)json_to_pb(oci, &grpc__spec__descriptor, err);
  if (spec == NULL)
    return veil_error_wrap(err, "config.json");
  out->spec = spec;
  if (spec->process == NULL || spec->process->n_args == 0) {
    shim_spec_result_clear(out);
    return veil_error_make(err, EINVAL, "config.json: process.args is empty: nothing to run");
  }
  if (spec->hooks) {
    protobuf_c_message_free_unpacked(&spec->hooks->base, NULL);
    spec->hooks = NULL;
  }
  if (spec->root == NULL) {
    spec->root = malloc(sizeof(*spec->root));
    if (spec->root == NULL) {
      shim_spec_result_clear(out);
      return veil_error_make(err, ENOMEM, "out of memory");
    }
    grpc__root__init(spec->root);
  }
  if (set_string(&spec->root->path, guest_rootfs, err) < 0 ||
      (spec->linux && trim_linux(spec->linux, container_id, err) < 0) ||
      rewrite_mounts(spec, container_id, have_shared_fs, out, err) < 0) {
    shim_spec_result_clear(out);
    return -1;
  }
  return 0;
}

void shim_spec_result_clear(struct spec_result *r)
{
  if (r->spec)
    protobuf_c_message_free_unpacked(&r->spec->base, NULL);
  for (size_t i = 0; i < r->n_shares; i++) {
    free(r->shares[i].host_source);
    free(r->shares[i].name);
  }
  free(r->shares);
  memset(r, 0, sizeof(*r));
}
