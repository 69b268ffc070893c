/* Task Create and Delete: the host side of a container (rootfs, share binds, the agent's
 * CreateContainer/RemoveContainer) and the sandbox's lifetime (first Create boots the VM,
 * last Delete destroys it). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/guest_paths.h"
#include "common/log.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "shim/bundle.h"
#include "shim/events.h"
#include "shim/mounts.h"
#include "shim/options.h"
#include "shim/shim.h"
#include "shim/timestamp.h"
#include "shim/task_lifecycle.h"

VEIL_DEFINE_CLEANUP(json_t, json_decref)

static int id_is_safe(const char *id)
{
  if (id == NULL || id[0] == '\0' || strlen(id) > 128 || strcmp(id, ".") == 0 ||
      strcmp(id, "..") == 0)
    return 0;
  for (const char *p = id; *p; p++)
    if (*p == '/' || (unsigned char)*p < 0x20)
      return 0;
  return 1;
}

static void undo_shared_mounts(struct shim_container *c)
{
  if (c->shared_mounts == NULL)
    return;
  size_t n = 0;
  while (c->shared_mounts[n])
    n++;
  while (n > 0) {
    char *m = c->shared_mounts[--n];
    shim_unmount(m);
    remove(m);
    free(m);
  }
  free(c->shared_mounts);
  c->shared_mounts = NULL;
}

static int remember_mount(struct shim_container *c, const char *path, veil_error_t *err)
{
  size_t n = 0;
  while (c->shared_mounts && c->shared_mounts[n])
    n++;
  char **v = realloc(c->shared_mounts, (n + 2) * sizeof(char *));
  if (v == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  c->shared_mounts = v;
  v[n] = strdup(path);
  v[n + 1] = NULL;
  return v[n] ? 0 : veil_error_make(err, ENOMEM, "out of memory");
}

/* Host files the container needs in the guest (dev profile: binds into the 9p share). */
static int share_into_guest(struct shim *s, struct shim_container *c, const char *rootfs,
                            const struct spec_result *sr, veil_error_t *err)
{
  char target[PATH_MAX];
  snprintf(target, sizeof(target), "%s/shared/%s/rootfs", s->sandbox.state_dir, c->id);
  if (shim_bind(rootfs, target, false, err) < 0)
    return veil_error_wrap(err, "share the rootfs of %s", c->id);
  if (remember_mount(c, target, err) < 0)
    return -1;
  for (size_t i = 0; i < sr->n_shares; i++) {
    snprintf(target, sizeof(target), "%s/shared/%s", s->sandbox.state_dir, sr->shares[i].name);
    if (shim_bind(sr->shares[i].host_source, target, sr->shares[i].readonly, err) < 0)
      return veil_error_wrap(err, "share mount source of %s", c->id);
    if (remember_mount(c, target, err) < 0)
      return -1;
  }
  return 0;
}

static void container_free(struct shim_container *c)
{
  if (c == NULL)
    return;
  shim_process_free(c->init);
  while (c->execs) {
    struct shim_process *n = c->execs->next;
    shim_process_free(c->execs);
    c->execs = n;
  }
  free(c->id);
  free(c->bundle);
  free(c);
}

/* Release host resources of a container: share binds, the rootfs mount. */
static void container_release_host(struct shim *s, struct shim_container *c)
{
  undo_shared_mounts(c);
  if (s->sandbox.state_dir[0]) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/shared/%s", s->sandbox.state_dir, c->id);
    cleanup_error veil_error_t err = NULL;
    veil_remove_tree(dir, &err);
  }
  if (c->rootfs_mounted) {
    char rootfs[PATH_MAX];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", c->bundle);
    shim_unmount(rootfs);
    c->rootfs_mounted = false;
  }
}

static Grpc__Storage *guest_pull_storage(const char *cid, const json_t *spec, bool sandbox)
{
  /* TEE profiles: the image is pulled inside the guest (kata's image_guest_pull). */
  const char *image = shim_spec_annotation(spec, ANNOT_IMAGE_NAME);
  Grpc__Storage *st = malloc(sizeof(*st));
  if (st == NULL)
    return NULL;
  grpc__storage__init(st);
  json_t *meta = json_pack("{s:O?}", "metadata", json_object_get(spec, "annotations"));
  char *meta_text = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
  json_decref(meta);
  char *opt = NULL;
  if (asprintf(&opt, "image_guest_pull=%s", meta_text ? meta_text : "{}") < 0)
    opt = NULL;
  free(meta_text);
  char mp[PATH_MAX];
  snprintf(mp, sizeof(mp), "%s/%s/rootfs", VEIL_GUEST_CONTAINER_BASE, cid);
  st->driver = strdup("image_guest_pull");
  st->source = strdup(image ? image : (sandbox ? "pause" : ""));
  st->fstype = strdup("overlay");
  st->mount_point = strdup(mp);
  st->driver_options = calloc(1, sizeof(char *));
  if (st->driver_options && opt) {
    st->driver_options[0] = opt;
    st->n_driver_options = 1;
  } else {
    free(opt);
  }
  return st;
}

int shim_task_create(struct shim *s, const Containerd__Task__V2__CreateTaskRequest *req,
                     uint32_t *pid, veil_error_t *err)
{
  if (!id_is_safe(req->id))
    return veil_error_make(err, EINVAL, "invalid container id `%s`", req->id ? req->id : "");
  if (req->checkpoint && req->checkpoint[0])
    return veil_error_grpc(err, VEIL_GRPC_UNIMPLEMENTED, "checkpoint/restore is not supported");
  pthread_mutex_lock(&s->lock);
  bool exists = shim_find_container(s, req->id) != NULL;
  pthread_mutex_unlock(&s->lock);
  if (exists)
    return veil_error_grpc(err, VEIL_GRPC_ALREADY_EXISTS, "container %s already exists",
                           req->id);

  cleanup_with(json_decref) json_t *spec = shim_bundle_load_spec(req->bundle, err);
  if (spec == NULL) {
    (*err)->grpc_code = VEIL_GRPC_INVALID_ARGUMENT;
    return veil_error_wrap(err, "create %s", req->id);
  }
  const char *ctype = shim_spec_annotation(spec, ANNOT_CONTAINER_TYPE);
  bool is_sandbox = ctype == NULL || strcmp(ctype, "sandbox") == 0;
  const char *sandbox_id = is_sandbox ? req->id : shim_spec_annotation(spec, ANNOT_SANDBOX_ID);
  if (sandbox_id == NULL)
    return veil_error_make(err, EINVAL, "create %s: annotation %s is missing", req->id,
                           ANNOT_SANDBOX_ID);

  cleanup_free char *cfg_path = NULL;
  if (req->options && req->options->value.len) {
    size_t len = google__protobuf__any__get_packed_size(req->options);
    cleanup_free uint8_t *buf = malloc(len);
    if (buf == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    google__protobuf__any__pack(req->options, buf);
    if (shim_options_from_any(buf, len, &cfg_path, err) < 0)
      return veil_error_wrap(err, "create %s", req->id);
  }
  if (shim_sandbox_ensure(s, sandbox_id, spec, cfg_path ? cfg_path : s->options_config_path,
                          err) < 0)
    return veil_error_wrap(err, "create %s", req->id);

  struct shim_container *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  c->id = strdup(req->id);
  c->bundle = strdup(req->bundle);
  c->is_sandbox_container = is_sandbox;
  c->init = shim_process_new(c, "", req->id, req->terminal, req->stdin, req->stdout,
                             req->stderr);
  struct spec_result sr = {0};
  char rootfs[PATH_MAX], guest_rootfs[PATH_MAX];
  Grpc__Storage *pull = NULL;
  if (c->id == NULL || c->bundle == NULL || c->init == NULL) {
    veil_error_make(err, ENOMEM, "out of memory");
    goto fail;
  }
  snprintf(rootfs, sizeof(rootfs), "%s/rootfs", req->bundle);
  if (req->n_rootfs > 0) {
    if (shim_mount_rootfs(req->rootfs, req->n_rootfs, rootfs, err) < 0)
      goto fail;
    c->rootfs_mounted = true;
  }
  bool shared = shim_sandbox_has_shared_fs(s);
  if (shared)
    snprintf(guest_rootfs, sizeof(guest_rootfs), "%s/%s/rootfs", GUEST_SHARED_DIR, req->id);
  else
    snprintf(guest_rootfs, sizeof(guest_rootfs), "%s/%s/rootfs", VEIL_GUEST_CONTAINER_BASE, req->id);
  if (shim_spec_build(spec, req->id, guest_rootfs, shared, &sr, err) < 0) {
    (*err)->grpc_code = VEIL_GRPC_INVALID_ARGUMENT;
    goto fail;
  }
  if (shared && share_into_guest(s, c, rootfs, &sr, err) < 0)
    goto fail;
  if (sr.n_dropped_mounts)
    log_warn("container %s: %zu host bind mount(s) dropped: the %s profile shares no host "
             "filesystem with the guest", req->id, sr.n_dropped_mounts,
             veil_profile_name(s->sandbox.config->profile));

  Grpc__CreateContainerRequest cc = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  cc.container_id = req->id;
  cc.exec_id = req->id;
  cc.oci = sr.spec;
  if (!shared) {
    pull = guest_pull_storage(req->id, spec, is_sandbox);
    if (pull == NULL) {
      veil_error_make(err, ENOMEM, "out of memory");
      goto fail;
    }
    cc.storages = &pull;
    cc.n_storages = 1;
  }
  if (SHIM_AGENT_CALL(s, err, veil_agent_create_container, &cc) < 0)
    goto fail;
  if (pull)
    protobuf_c_message_free_unpacked(&pull->base, NULL);
  shim_spec_result_clear(&sr);

  pthread_mutex_lock(&s->lock);
  c->next = s->containers;
  s->containers = c;
  *pid = (uint32_t)veil_vm_pid(s->sandbox.vm);
  Containerd__Events__TaskIO io = CONTAINERD__EVENTS__TASK_IO__INIT;
  io.stdin = req->stdin;
  io.stdout = req->stdout;
  io.stderr = req->stderr;
  io.terminal = req->terminal;
  Containerd__Events__TaskCreate ev = CONTAINERD__EVENTS__TASK_CREATE__INIT;
  ev.container_id = req->id;
  ev.bundle = req->bundle;
  ev.rootfs = req->rootfs;
  ev.n_rootfs = req->n_rootfs;
  ev.io = &io;
  ev.pid = *pid;
  shim_events_publish(s->events, "/tasks/create", &ev.base);
  pthread_mutex_unlock(&s->lock);
  log_info("container %s created in sandbox %s", req->id, sandbox_id);
  return 0;

fail:
  if (pull)
    protobuf_c_message_free_unpacked(&pull->base, NULL);
  shim_spec_result_clear(&sr);
  container_release_host(s, c);
  container_free(c);
  veil_error_wrap(err, "create %s", req->id);
  /* the first container's failure leaves no VM behind */
  pthread_mutex_lock(&s->lock);
  bool empty = s->containers == NULL;
  pthread_mutex_unlock(&s->lock);
  if (empty)
    shim_sandbox_destroy(s);
  return -1;
}

static void publish_delete(struct shim *s, struct shim_process *p)
{
  Google__Protobuf__Timestamp ts = shim_timestamp(&p->exited_at);
  Containerd__Events__TaskDelete ev = CONTAINERD__EVENTS__TASK_DELETE__INIT;
  ev.container_id = p->container->id;
  ev.id = p->exec_id[0] ? p->exec_id : p->container->id;
  ev.pid = s->sandbox.vm ? (uint32_t)veil_vm_pid(s->sandbox.vm) : 0;
  ev.exit_status = p->exit_status;
  ev.exited_at = p->exited_at.tv_sec ? &ts : NULL;
  shim_events_publish(s->events, "/tasks/delete", &ev.base);
}

int shim_task_delete(struct shim *s, const char *id, const char *exec_id,
                     Containerd__Task__V2__DeleteResponse *resp, Google__Protobuf__Timestamp *ts,
                     veil_error_t *err)
{
  pthread_mutex_lock(&s->lock);
  struct shim_process *p = shim_find_process(s, id, exec_id, err);
  if (p == NULL) {
    pthread_mutex_unlock(&s->lock);
    return -1;
  }
  struct shim_container *c = p->container;
  bool is_init = p == c->init;
  if (p->started && !p->exited) {
    pthread_mutex_unlock(&s->lock);
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION,
                           "delete %s: the process is still running; kill it first", id);
  }
  if (is_init && c->execs) {
    for (struct shim_process *e = c->execs; e; e = e->next)
      if (e->started && !e->exited) {
        pthread_mutex_unlock(&s->lock);
        return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION,
                               "delete %s: exec %s is still running", id, e->exec_id);
      }
  }
  if (!p->exited) { /* created, never started */
    p->exited = true;
    p->status = PROC_STOPPED;
    clock_gettime(CLOCK_REALTIME, &p->exited_at);
  }
  /* unlink now so concurrent RPCs see it gone */
  if (is_init) {
    for (struct shim_container **pp = &s->containers; *pp; pp = &(*pp)->next)
      if (*pp == c) {
        *pp = c->next;
        break;
      }
  } else {
    for (struct shim_process **pp = &c->execs; *pp; pp = &(*pp)->next)
      if (*pp == p) {
        *pp = p->next;
        break;
      }
  }
  resp->pid = s->sandbox.vm ? (uint32_t)veil_vm_pid(s->sandbox.vm) : 0;
  resp->exit_status = p->exit_status;
  ts->seconds = p->exited_at.tv_sec;
  ts->nanos = (int32_t)p->exited_at.tv_nsec;
  resp->exited_at = ts;
  publish_delete(s, p);
  bool last = s->containers == NULL;
  pthread_mutex_unlock(&s->lock);

  shim_process_join(p);
  if (!is_init) {
    shim_process_free(p);
    return 0;
  }
  for (struct shim_process *e = c->execs; e; e = e->next)
    shim_process_join(e);
  if (!s->sandbox.vm_gone && s->sandbox.ready) {
    cleanup_error veil_error_t rerr = NULL;
    Grpc__RemoveContainerRequest rc = GRPC__REMOVE_CONTAINER_REQUEST__INIT;
    rc.container_id = c->id;
    if (SHIM_AGENT_CALL(s, &rerr, veil_agent_remove_container, &rc) < 0)
      log_warn("delete %s: %s", id, rerr->msg);
  }
  container_release_host(s, c);
  bool sandbox_gone = last || c->is_sandbox_container;
  container_free(c);
  if (sandbox_gone)
    shim_sandbox_destroy(s);
  log_info("container %s deleted%s", id, sandbox_gone ? " (sandbox destroyed)" : "");
  return 0;
}
