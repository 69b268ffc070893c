/* Task Create and Delete: the host side of a container (rootfs, share binds, the agent's
 * CreateContainer/RemoveContainer) and the sandbox's lifetime in the pod-sandbox mode (first
 * Create boots the VM, last Delete destroys it; with the Sandbox API, sandbox_service.c). */
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
#include "shim/virtual_volume.h"
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

/* Undo the share binds of a container, newest first, then remove their targets (the share's
 * top level is read-only to the guest, so nothing there can have been swapped). */
static void undo_share_entries(struct shim *s, struct shim_container *c)
{
  if (c->share_entries == NULL)
    return;
  size_t n = 0;
  while (c->share_entries[n])
    n++;
  while (n > 0)
    shim_share_unbind(&s->sandbox.share, c->share_entries[--n]);
  for (char **e = c->share_entries; *e; e++) {
    char *slash = strchr(*e, '/');
    if (slash)
      *slash = '\0'; /* "<cid>/rootfs": remove the whole "<cid>" dir */
    cleanup_error veil_error_t err = NULL;
    if (shim_share_remove(&s->sandbox.share, *e, &err) < 0)
      log_warn("container %s: %s", c->id, err->msg);
  }
  veil_cleanup_strvp(&c->share_entries);
}

static int remember_entry(struct shim_container *c, const char *name, veil_error_t *err)
{
  size_t n = 0;
  while (c->share_entries && c->share_entries[n])
    n++;
  char **v = realloc(c->share_entries, (n + 2) * sizeof(char *));
  if (v == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  c->share_entries = v;
  v[n] = strdup(name);
  v[n + 1] = NULL;
  return v[n] ? 0 : veil_error_make(err, ENOMEM, "out of memory");
}

static int share_bind(struct shim *s, struct shim_container *c, const char *source,
                      const char *name, bool readonly, veil_error_t *err)
{
  /* remembered first: a bind that fails half-way is undone with the rest */
  if (remember_entry(c, name, err) < 0)
    return -1;
  return shim_share_bind(&s->sandbox.share, source, name, readonly, err);
}

/* Host files the container needs in the guest (dev profile: binds into the share); rootfs
 * NULL when the guest pulls the image itself. */
static int share_into_guest(struct shim *s, struct shim_container *c, const char *rootfs,
                            const struct spec_result *sr, veil_error_t *err)
{
  char name[PATH_MAX];
  snprintf(name, sizeof(name), "%s/rootfs", c->id);
  if (rootfs && share_bind(s, c, rootfs, name, false, err) < 0)
    return veil_error_wrap(err, "share the rootfs of %s", c->id);
  for (size_t i = 0; i < sr->n_shares; i++)
    if (share_bind(s, c, sr->shares[i].host_source, sr->shares[i].name, sr->shares[i].readonly,
                   err) < 0)
      return veil_error_wrap(err, "share mount source of %s", c->id);
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
  free(c->last_metrics);
  free(c);
}

/* Release host resources of a container: share binds, the rootfs mount. */
static void container_release_host(struct shim *s, struct shim_container *c)
{
  undo_share_entries(s, c);
  if (c->rootfs_mounted) {
    char rootfs[PATH_MAX];
    snprintf(rootfs, sizeof(rootfs), "%s/rootfs", c->bundle);
    shim_unmount(rootfs);
    c->rootfs_mounted = false;
  }
}

/* kata's handleImageGuestPullBlockVolume (kata_agent.go:1935-1985): the guest pulls the
 * image itself. Source: "pause" for the sandbox, else the CRI image name; metadata: a virtual
 * volume's image-pull metadata (nydus), overlaid with the container's annotations. */
static Grpc__Storage *guest_pull_storage(const char *cid, const json_t *spec, bool sandbox,
                                         const json_t *volume_metadata, veil_error_t *err)
{
  const char *image = sandbox ? "pause" : shim_spec_annotation(spec, ANNOT_IMAGE_NAME);
  if (image == NULL || image[0] == '\0') {
    veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "guest pull: annotation %s is missing: "
                    "the guest cannot know which image to pull", ANNOT_IMAGE_NAME);
    return NULL;
  }
  /* kata-agent deserialises {"metadata": {...}}: an object, never null */
  cleanup_with(json_decref) json_t *metadata =
      volume_metadata ? json_deep_copy(volume_metadata) : json_object();
  json_t *annotations = json_object_get(spec, "annotations");
  if (metadata == NULL || (json_is_object(annotations) && json_object_update(metadata, annotations) < 0)) {
    veil_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  cleanup_with(json_decref) json_t *pull = json_pack("{s:O}", "metadata", metadata);
  cleanup_free char *pull_text = pull ? json_dumps(pull, JSON_COMPACT) : NULL;
  Grpc__Storage *st = malloc(sizeof(*st));
  if (st == NULL || pull_text == NULL) {
    free(st);
    veil_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  grpc__storage__init(st);
  char *opt = NULL, *mp = NULL;
  if (asprintf(&opt, "image_guest_pull=%s", pull_text) < 0)
    opt = NULL;
  if (asprintf(&mp, "%s/%s/rootfs", VEIL_GUEST_CONTAINER_BASE, cid) < 0)
    mp = NULL;
  st->driver = strdup("image_guest_pull");
  st->source = strdup(image);
  st->fstype = strdup("overlay");
  st->mount_point = mp;
  st->driver_options = calloc(1, sizeof(char *));
  if (st->driver_options && opt) {
    st->driver_options[0] = opt;
    st->n_driver_options = 1;
    opt = NULL;
  }
  free(opt);
  if (!st->driver || !st->source || !st->fstype || !st->mount_point || !st->n_driver_options) {
    protobuf_c_message_free_unpacked(&st->base, NULL);
    veil_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  return st;
}

/* Claim an id for the length of its Create, so a concurrent Create of the same id fails
 * at once and a failing Create knows whether anyone else is still using the sandbox. */
static int reserve_id(struct shim *s, const char *id, veil_error_t *err)
{
  pthread_mutex_lock(&s->lock);
  bool taken = shim_find_container(s, id) != NULL;
  for (struct shim_reservation *r = s->reserved; r && !taken; r = r->next)
    taken = strcmp(r->id, id) == 0;
  struct shim_reservation *r = taken ? NULL : calloc(1, sizeof(*r));
  if (r && (r->id = strdup(id)) != NULL) {
    r->next = s->reserved;
    s->reserved = r;
  }
  pthread_mutex_unlock(&s->lock);
  if (taken)
    return veil_error_grpc(err, VEIL_GRPC_ALREADY_EXISTS, "container %s already exists", id);
  if (r == NULL || r->id == NULL) {
    free(r);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  return 0;
}

/* Drop the reservation (with c, when given, entering the model in the same step). Returns
 * whether the sandbox is now unused: no container, no other Create in flight. */
static bool release_id(struct shim *s, const char *id, struct shim_container *c)
{
  pthread_mutex_lock(&s->lock);
  for (struct shim_reservation **pp = &s->reserved; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->id, id) == 0) {
      struct shim_reservation *r = *pp;
      *pp = r->next;
      free(r->id);
      free(r);
      break;
    }
  if (c) {
    c->next = s->containers;
    s->containers = c;
  }
  /* a Sandbox API sandbox owns its VM until StopSandbox */
  bool unused = s->containers == NULL && s->reserved == NULL && !s->api.created;
  pthread_mutex_unlock(&s->lock);
  return unused;
}

/* Which sandbox the container belongs to (a CRI app container names its pod; anything else
 * is its own sandbox), booted if this is its first container. */
static int resolve_sandbox(struct shim *s, const Containerd__Task__V2__CreateTaskRequest *req,
                           const json_t *spec, bool *is_sandbox, veil_error_t *err)
{
  const char *ctype = shim_spec_annotation(spec, ANNOT_CONTAINER_TYPE);
  *is_sandbox = ctype == NULL || strcmp(ctype, "sandbox") == 0;
  const char *sandbox_id = *is_sandbox ? req->id : shim_spec_annotation(spec, ANNOT_SANDBOX_ID);
  if (sandbox_id == NULL)
    return veil_error_make(err, EINVAL, "annotation %s is missing", ANNOT_SANDBOX_ID);
  cleanup_free char *cfg_path = NULL;
  if (req->options && req->options->value.len &&
      shim_options_from_any_msg(req->options, &cfg_path, err) < 0)
    return -1;
  pthread_mutex_lock(&s->lock);
  bool api_not_running = s->api.created && (!s->api.started || s->api.stopped);
  pthread_mutex_unlock(&s->lock);
  if (api_not_running)
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION,
                           "sandbox %s is not running (StartSandbox first)", sandbox_id);
  return shim_sandbox_ensure(s, sandbox_id, spec, cfg_path ? cfg_path : s->options_config_path,
                             err);
}

static struct shim_container *container_new(const Containerd__Task__V2__CreateTaskRequest *req,
                                            bool is_sandbox, veil_error_t *err)
{
  struct shim_container *c = calloc(1, sizeof(*c));
  if (c == NULL) {
    veil_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  c->id = strdup(req->id);
  c->bundle = strdup(req->bundle);
  c->is_sandbox_container = is_sandbox;
  c->init = shim_process_new(c, "", req->id, req->terminal, req->stdin, req->stdout,
                             req->stderr);
  if (c->id == NULL || c->bundle == NULL || c->init == NULL) {
    container_free(c);
    veil_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  return c;
}

/* containerd's rootfs mounts on <bundle>/rootfs, the spec for the guest, and (dev) the binds
 * that make the rootfs and the host's mount sources visible in the guest. A rootfs that is a
 * Kata virtual volume (nydus-snapshotter's guest pull) is not mounted here at all: its
 * metadata goes to *pull_metadata and the guest pulls the image. */
static int prepare_host_rootfs(struct shim *s, struct shim_container *c,
                               const Containerd__Task__V2__CreateTaskRequest *req,
                               const json_t *spec, struct spec_result *sr,
                               json_t **pull_metadata, veil_error_t *err)
{
  char rootfs[PATH_MAX], guest_rootfs[PATH_MAX];
  snprintf(rootfs, sizeof(rootfs), "%s/rootfs", req->bundle);
  bool virtual_volume = shim_rootfs_has_virtual_volume(req->rootfs, req->n_rootfs);
  if (virtual_volume) {
    if (shim_rootfs_guest_pull_metadata(req->rootfs, req->n_rootfs, pull_metadata, err) < 0)
      return -1;
  } else if (req->n_rootfs > 0) {
    if (shim_mount_rootfs(req->rootfs, req->n_rootfs, rootfs, err) < 0)
      return -1;
    c->rootfs_mounted = true;
  }
  bool shared = shim_sandbox_has_shared_fs(s);
  if (shared && !virtual_volume)
    snprintf(guest_rootfs, sizeof(guest_rootfs), "%s/%s/rootfs", GUEST_SHARED_DIR, req->id);
  else
    snprintf(guest_rootfs, sizeof(guest_rootfs), "%s/%s/rootfs", VEIL_GUEST_CONTAINER_BASE, req->id);
  struct spec_guest guest = {guest_rootfs, shared, s->sandbox.shm_size};
  if (shim_spec_build(spec, req->id, &guest, sr, err) < 0)
    return veil_error_wrap_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "config.json");
  if (shared && share_into_guest(s, c, virtual_volume ? NULL : rootfs, sr, err) < 0)
    return -1;
  if (sr->n_dropped_mounts)
    log_warn("container %s: %zu host bind mount(s) dropped: the %s profile shares no host "
             "filesystem with the guest", req->id, sr->n_dropped_mounts,
             veil_profile_name(s->sandbox.config->profile));
  return 0;
}

static int create_in_guest(struct shim *s, struct shim_container *c, const json_t *spec,
                           struct spec_result *sr, const json_t *pull_metadata,
                           veil_error_t *err)
{
  Grpc__CreateContainerRequest cc = GRPC__CREATE_CONTAINER_REQUEST__INIT;
  cc.container_id = c->id;
  cc.exec_id = c->id;
  cc.oci = sr->spec;
  cc.sandbox_pidns = sr->sandbox_pidns;
  Grpc__Storage *pull = NULL;
  if (!shim_sandbox_has_shared_fs(s) || pull_metadata) {
    pull = guest_pull_storage(c->id, spec, c->is_sandbox_container, pull_metadata, err);
    if (pull == NULL)
      return -1;
    cc.storages = &pull;
    cc.n_storages = 1;
  }
  int r = SHIM_AGENT_CALL(s, err, veil_agent_create_container, &cc);
  if (pull)
    protobuf_c_message_free_unpacked(&pull->base, NULL);
  return r;
}

/* TaskCreate, queued under the lock that made the container visible (events stay ordered). */
static void publish_created(struct shim *s, const Containerd__Task__V2__CreateTaskRequest *req,
                            uint32_t pid)
{
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
  ev.pid = pid;
  shim_events_publish(s->events, "/tasks/create", &ev.base);
}

int shim_task_create(struct shim *s, const Containerd__Task__V2__CreateTaskRequest *req,
                     uint32_t *pid, veil_error_t *err)
{
  if (!id_is_safe(req->id))
    return veil_error_make(err, EINVAL, "invalid container id `%s`", req->id ? req->id : "");
  if (req->checkpoint && req->checkpoint[0])
    return veil_error_grpc(err, VEIL_GRPC_UNIMPLEMENTED, "checkpoint/restore is not supported");
  if (reserve_id(s, req->id, err) < 0)
    return -1;
  struct shim_container *c = NULL;
  struct spec_result sr = {0};
  cleanup_with(json_decref) json_t *pull_metadata = NULL;
  bool is_sandbox = false;
  cleanup_with(json_decref) json_t *spec = shim_bundle_load_spec(req->bundle, err);
  if (spec == NULL) {
    veil_error_wrap_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "create %s", req->id);
    goto fail;
  }
  if (resolve_sandbox(s, req, spec, &is_sandbox, err) < 0 ||
      (c = container_new(req, is_sandbox, err)) == NULL ||
      prepare_host_rootfs(s, c, req, spec, &sr, &pull_metadata, err) < 0 ||
      create_in_guest(s, c, spec, &sr, pull_metadata, err) < 0) {
    veil_error_wrap(err, "create %s", req->id);
    goto fail;
  }
  shim_spec_result_clear(&sr);
  pthread_mutex_lock(&s->lock);
  *pid = (uint32_t)veil_vm_pid(s->sandbox.vm);
  publish_created(s, req, *pid);
  pthread_mutex_unlock(&s->lock);
  release_id(s, req->id, c);
  log_info("container %s created in sandbox %s", req->id, s->sandbox.id);
  return 0;

fail:
  shim_spec_result_clear(&sr);
  if (c) {
    container_release_host(s, c);
    container_free(c);
  }
  /* the first container's failure leaves no VM behind, unless another Create is under way */
  if (release_id(s, req->id, NULL))
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
  bool api_sandbox = s->api.created; /* then StopSandbox ends the VM, not the last task */
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
  bool sandbox_gone = !api_sandbox && (last || c->is_sandbox_container);
  container_free(c);
  if (sandbox_gone)
    shim_sandbox_destroy(s);
  log_info("container %s deleted%s", id, sandbox_gone ? " (sandbox destroyed)" : "");
  return 0;
}
