#include "shim/spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/random.h>
#include <sys/statfs.h>

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

static int set_options(Grpc__Mount *m, const char *const *opts, size_t n, veil_error_t *err)
{
  free_strv_n(m->options, m->n_options);
  m->n_options = 0;
  m->options = calloc(n, sizeof(char *));
  if (m->options == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++) {
    m->options[i] = strdup(opts[i]);
    if (m->options[i] == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    m->n_options++;
  }
  return 0;
}

/* kata's handleShm: every container's /dev/shm is the pod's (an rbind of the sandbox shm
 * storage), or, in a pod without one, a private tmpfs of the default size. */
static int rewrite_shm(Grpc__Mount *m, uint64_t sandbox_shm_size, veil_error_t *err)
{
  static const char *const bind_opts[] = {"rbind"};
  static const char *const tmpfs_opts[] = {"noexec", "nosuid", "nodev", "mode=1777",
                                           "size=67108864"};
  if (sandbox_shm_size > 0)
    return (set_string(&m->type, "bind", err) < 0 ||
            set_string(&m->source, GUEST_SANDBOX_SHM, err) < 0)
               ? -1
               : set_options(m, bind_opts, 1, err);
  return (set_string(&m->type, "tmpfs", err) < 0 || set_string(&m->source, "shm", err) < 0)
             ? -1
             : set_options(m, tmpfs_opts, 5, err);
}

int shim_spec_shm_size(const json_t *oci, uint64_t *size, veil_error_t *err)
{
  *size = 0;
  json_t *mounts = json_object_get(oci, "mounts");
  size_t i;
  json_t *m;
  json_array_foreach(mounts, i, m) {
    const char *dest = json_string_value(json_object_get(m, "destination"));
    if (dest == NULL || strcmp(dest, "/dev/shm") != 0)
      continue;
    *size = SANDBOX_SHM_DEFAULT_SIZE;
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *source = json_string_value(json_object_get(m, "source"));
    if (type && strcmp(type, "bind") == 0 && source && strcmp(source, "/dev/shm") != 0) {
      struct statfs st;
      if (statfs(source, &st) < 0)
        return veil_error_errno(err, "config.json: /dev/shm source `%s`", source);
      *size = (uint64_t)st.f_bsize * st.f_blocks;
    }
    break;
  }
  return 0;
}

/* kata's shareFileName: "<cid>-<16 random hex>-<basename of the destination>" (genpolicy's
 * rules expect this shape), cut to one path component. */
static int share_name(const char *cid, const char *destination, char name[NAME_MAX + 1],
                      veil_error_t *err)
{
  uint8_t r[8];
  if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
    return veil_error_errno(err, "getrandom");
  const char *base = strrchr(destination, '/');
  base = base ? base + 1 : destination;
  if (base[0] == '\0')
    base = "root";
  snprintf(name, NAME_MAX + 1, "%s-%02x%02x%02x%02x%02x%02x%02x%02x-%s", cid, r[0], r[1], r[2],
           r[3], r[4], r[5], r[6], r[7], base);
  return 0;
}

static int rewrite_mounts(Grpc__Spec *spec, const char *cid, const struct spec_guest *guest,
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
    if (strcmp(m->destination, "/dev/shm") == 0) {
      if (rewrite_shm(m, guest->sandbox_shm_size, err) < 0)
        goto fail;
    } else if (is_bind) {
      if (!guest->shared_fs) {
        /* No host filesystem reaches a TEE guest: drop the bind. */
        protobuf_c_message_free_unpacked(&m->base, NULL);
        spec->mounts[i] = NULL;
        out->n_dropped_mounts++;
        continue;
      }
      char name[NAME_MAX + 1];
      if (share_name(cid, m->destination, name, err) < 0)
        goto fail;
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

#define FREE_FIELD(f)                                                                          \
  do {                                                                                         \
    if (f) {                                                                                   \
      protobuf_c_message_free_unpacked(&(f)->base, NULL);                                      \
      (f) = NULL;                                                                              \
    }                                                                                          \
  } while (0)

/* kata_agent.go constrainGRPCSpec: the guest's cgroups know nothing of host devices, pids
 * limits, block I/O or network classes, nor of host CPUs and NUMA nodes (genpolicy's rules
 * require Resources.Devices to be empty). */
static int trim_resources(Grpc__LinuxResources *r, veil_error_t *err)
{
  for (size_t i = 0; i < r->n_devices; i++)
    protobuf_c_message_free_unpacked(&r->devices[i]->base, NULL);
  free(r->devices);
  r->devices = NULL;
  r->n_devices = 0;
  FREE_FIELD(r->pids);
  FREE_FIELD(r->blockio);
  FREE_FIELD(r->network);
  if (r->cpu && (set_string(&r->cpu->cpus, "", err) < 0 || set_string(&r->cpu->mems, "", err) < 0))
    return -1;
  return 0;
}

/* Host device nodes go as they are (crun/rustjail create them in the guest), except VFIO
 * groups: the guest's VFIO driver owns those (kata's stripVfio). */
static void trim_devices(Grpc__Linux *lx)
{
  size_t kept = 0;
  for (size_t i = 0; i < lx->n_devices; i++) {
    Grpc__LinuxDevice *d = lx->devices[i];
    if (strcmp(d->type, "c") == 0 && strncmp(d->path, "/dev/vfio/", 10) == 0)
      protobuf_c_message_free_unpacked(&d->base, NULL);
    else
      lx->devices[kept++] = d;
  }
  lx->n_devices = kept;
}

static int trim_linux(Grpc__Linux *lx, const char *cid, struct spec_result *out,
                      veil_error_t *err)
{
  FREE_FIELD(lx->seccomp);
  size_t kept = 0;
  for (size_t i = 0; i < lx->n_namespaces; i++) {
    Grpc__LinuxNamespace *ns = lx->namespaces[i];
    /* pid: removed; the agent adds its own, joining the pod's when the spec named one
     * (shareProcessNamespace), as kata's handlePidNamespace does */
    if (strcmp(ns->type, "pid") == 0) {
      out->sandbox_pidns = ns->path && ns->path[0];
      protobuf_c_message_free_unpacked(&ns->base, NULL);
      continue;
    }
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
  if (lx->resources && trim_resources(lx->resources, err) < 0)
    return -1;
  trim_devices(lx);
  char cg[300];
  snprintf(cg, sizeof(cg), "/veil/%s", cid);
  return set_string(&lx->cgroupspath, cg, err);
}

/* The guest runs without SELinux (selinux=0): rustjail refuses a label it cannot apply, so
 * labels go when there is one, as kata does with disable_guest_selinux (the default). */
static int clear_selinux(Grpc__Spec *spec, veil_error_t *err)
{
  if (spec->process == NULL || spec->process->selinuxlabel == NULL ||
      spec->process->selinuxlabel[0] == '\0')
    return 0;
  if (set_string(&spec->process->selinuxlabel, "", err) < 0)
    return -1;
  return spec->linux ? set_string(&spec->linux->mountlabel, "", err) : 0;
}

int shim_spec_build(const json_t *oci, const char *container_id, const struct spec_guest *guest,
                    struct spec_result *out, veil_error_t *err)
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
  if (set_string(&spec->root->path, guest->rootfs, err) < 0 ||
      (spec->linux && trim_linux(spec->linux, container_id, out, err) < 0) ||
      clear_selinux(spec, err) < 0 ||
      rewrite_mounts(spec, container_id, guest, out, err) < 0) {
    shim_spec_result_clear(out);
    return -1;
  }
  return 0;
}

Grpc__Process *shim_exec_process_build(const json_t *process, bool terminal, veil_error_t *err)
{
  Grpc__Process *p = (Grpc__Process *)json_to_pb(process, &grpc__process__descriptor, err);
  if (p == NULL)
    return NULL;
  if (p->n_args == 0) {
    protobuf_c_message_free_unpacked(&p->base, NULL);
    veil_error_make(err, EINVAL, "process.args is empty");
    return NULL;
  }
  /* what kata's cmdToKataProcess sends: genpolicy compares the rest exactly, and an exec
   * gets the container's capabilities, rlimits and labels in the guest anyway */
  p->terminal = terminal;
  FREE_FIELD(p->consolesize);
  FREE_FIELD(p->capabilities);
  for (size_t i = 0; i < p->n_rlimits; i++)
    protobuf_c_message_free_unpacked(&p->rlimits[i]->base, NULL);
  free(p->rlimits);
  p->rlimits = NULL;
  p->n_rlimits = 0;
  p->nonewprivileges = 0;
  p->oomscoreadj = 0;
  if (set_string(&p->apparmorprofile, "", err) < 0 || set_string(&p->selinuxlabel, "", err) < 0 ||
      (p->user && set_string(&p->user->username, "", err) < 0))
    goto fail;
  if (p->user == NULL) {
    p->user = malloc(sizeof(*p->user));
    if (p->user == NULL) {
      veil_error_make(err, ENOMEM, "out of memory");
      goto fail;
    }
    grpc__user__init(p->user);
  }
  /* kata splits env entries at '=' and joins them again: "VAR" becomes "VAR=" */
  for (size_t i = 0; i < p->n_env; i++)
    if (strchr(p->env[i], '=') == NULL) {
      char *v = NULL;
      if (asprintf(&v, "%s=", p->env[i]) < 0) {
        veil_error_make(err, ENOMEM, "out of memory");
        goto fail;
      }
      free(p->env[i]);
      p->env[i] = v;
    }
  return p;

fail:
  protobuf_c_message_free_unpacked(&p->base, NULL);
  return NULL;
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
