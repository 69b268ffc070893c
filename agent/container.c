/* Container and process lifecycle on top of the OCI runtime (ops.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "agent/ops.h"
#include "agent/reaper.h"
#include "agent/runtime.h"
#include "agent/spec_json.h"
#include "agent/sysctl.h"
#include "agent/storage.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/id.h"
#include "common/log.h"

VEIL_DEFINE_CLEANUP(json_t, json_decref)

static void close_fd(int *fd)
{
  if (*fd >= 0)
    close(*fd);
  *fd = -1;
}

int agent_init(struct agent *a, const struct agent_config *cfg, veil_error_t *err)
{
  (void)err;
  memset(a, 0, sizeof(*a));
  a->cfg = *cfg;
  pthread_mutex_init(&a->lock, NULL);
  pthread_mutex_init(&a->ops_lock, NULL);
  pthread_mutex_init(&a->net_lock, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&a->cond, &ca);
  pthread_condattr_destroy(&ca);
  return 0;
}

void agent_process_free(struct agent_process *p)
{
  if (!p)
    return;
  close_fd(&p->stdin_fd);
  close_fd(&p->stdout_fd);
  close_fd(&p->stderr_fd);
  free(p->exec_id);
  free(p);
}

void agent_container_free(struct agent_container *c)
{
  if (!c)
    return;
  while (c->procs) {
    struct agent_process *p = c->procs;
    c->procs = p->next;
    agent_process_free(p);
  }
  for (size_t i = 0; i < c->n_mounts; i++)
    free(c->mounts[i]);
  free(c->mounts);
  free(c->oom_file);
  free(c->id);
  free(c->bundle);
  free(c);
}

void agent_fini(struct agent *a)
{
  while (a->containers) {
    struct agent_container *c = a->containers;
    a->containers = c->next;
    agent_container_free(c);
  }
  for (size_t i = 0; i < a->n_sandbox_mounts; i++)
    free(a->sandbox_mounts[i]);
  free(a->sandbox_mounts);
  free(a->sandbox_id);
  free(a->sandbox_pidns);
  agent_sandbox_ns_release(&a->sandbox_ns); /* unmounted: an agent in a test leaves no nsfs */
  free(a->initdata_digest);
  agent_policy_clear(&a->policy);
  free(a->service_bindings);
  pthread_mutex_destroy(&a->lock);
  pthread_mutex_destroy(&a->ops_lock);
  pthread_mutex_destroy(&a->net_lock);
  pthread_cond_destroy(&a->cond);
}

struct agent_container *agent_find_container(struct agent *a, const char *id)
{
  for (struct agent_container *c = a->containers; c; c = c->next)
    if (id && strcmp(c->id, id) == 0)
      return c;
  return NULL;
}

struct agent_process *agent_find_process(struct agent_container *c, const char *exec_id)
{
  /* An empty exec id names the init process, as kata's agent does for most RPCs. */
  if (!exec_id || !*exec_id)
    exec_id = c->id;
  for (struct agent_process *p = c->procs; p; p = p->next)
    if (strcmp(p->exec_id, exec_id) == 0)
      return p;
  return NULL;
}

struct agent_process *agent_lookup_process(struct agent *a, const char *cid, const char *exec_id,
                                           struct agent_container **out_c, veil_error_t *err)
{
  struct agent_container *c = agent_find_container(a, cid);
  if (!c)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "container `%s` not found", cid ? cid : ""),
           NULL;
  struct agent_process *p = agent_find_process(c, exec_id);
  if (!p)
    return veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "process `%s` not found in container `%s`",
                           exec_id ? exec_id : "", cid),
           NULL;
  if (out_c)
    *out_c = c;
  return p;
}

void agent_process_exited(struct agent *a, pid_t pid, int st)
{
  pthread_mutex_lock(&a->lock);
  for (struct agent_container *c = a->containers; c; c = c->next)
    for (struct agent_process *p = c->procs; p; p = p->next)
      if (p->pid == pid && !p->exited) {
        p->exited = true;
        p->exit_code = reaper_exit_code(st);
        log_info("process exited container=%s exec=%s pid=%d status=%d", c->id, p->exec_id,
                 (int)pid, p->exit_code);
        if (strcmp(p->exec_id, c->id) == 0)
          c->state = CONTAINER_STOPPED;
      }
  pthread_cond_broadcast(&a->cond);
  pthread_mutex_unlock(&a->lock);
}

/* Pipes for a process: the child's ends in io, ours in p. */
static int make_stdio(struct agent_process *p, bool terminal, struct runtime_stdio *io,
                      veil_error_t *err)
{
  *io = (struct runtime_stdio){ .in = -1, .out = -1, .err = -1, .terminal = terminal };
  p->stdin_fd = p->stdout_fd = p->stderr_fd = -1;
  p->terminal = terminal;
  if (terminal)
    return 0;
  int in[2], out[2], er[2];
  if (pipe2(in, O_CLOEXEC) < 0)
    return veil_error_errno(err, "pipe");
  if (pipe2(out, O_CLOEXEC) < 0) {
    close(in[0]), close(in[1]);
    return veil_error_errno(err, "pipe");
  }
  if (pipe2(er, O_CLOEXEC) < 0) {
    close(in[0]), close(in[1]), close(out[0]), close(out[1]);
    return veil_error_errno(err, "pipe");
  }
  io->in = in[0], p->stdin_fd = in[1];
  io->out = out[1], p->stdout_fd = out[0];
  io->err = er[1], p->stderr_fd = er[0];
  /* WriteStdin must not block forever on a full pipe. */
  fcntl(p->stdin_fd, F_SETFL, O_NONBLOCK);
  return 0;
}

static void close_child_ends(struct runtime_stdio *io)
{
  close_fd(&io->in);
  close_fd(&io->out);
  close_fd(&io->err);
}

static int write_json(const char *path, json_t *j, veil_error_t *err)
{
  cleanup_free char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
  if (!s)
    return veil_error_make(err, ENOMEM, "serialize %s", path);
  return veil_write_file_atomic(path, s, strlen(s), 0600, err);
}

static void unlink_container(struct agent *a, struct agent_container *c)
{
  pthread_mutex_lock(&a->lock);
  for (struct agent_container **pp = &a->containers; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      a->n_containers--;
      break;
    }
  pthread_cond_broadcast(&a->cond);
  pthread_mutex_unlock(&a->lock);
}

static void release_container(struct agent *a, struct agent_container *c)
{
  for (size_t i = c->n_mounts; i-- > 0;)
    agent_storage_unmount(c->mounts[i]);
  if (c->bundle) {
    veil_error_t ignored = NULL;
    veil_remove_tree(c->bundle, &ignored);
    veil_error_release(&ignored);
  }
  (void)a;
  agent_container_free(c);
}

/* The host sends no pid namespace (kata's handlePidNamespace removes it): the container gets
 * a new one, or the pod's when it asked for sandbox_pidns (shareProcessNamespace), as
 * kata-agent's update_container_namespaces does. */
static int set_pid_namespace(struct agent *a, json_t *config, bool sandbox_pidns,
                             veil_error_t *err)
{
  json_t *ns = json_object_get(json_object_get(config, "linux"), "namespaces");
  if (!json_is_array(ns))
    return 0;
  size_t i = 0;
  while (i < json_array_size(ns)) {
    const char *type = json_string_value(json_object_get(json_array_get(ns, i), "type"));
    if (type && strcmp(type, "pid") == 0)
      json_array_remove(ns, i);
    else
      i++;
  }
  pthread_mutex_lock(&a->lock);
  bool first = a->containers == NULL;
  cleanup_free char *path = sandbox_pidns && a->sandbox_pidns ? strdup(a->sandbox_pidns) : NULL;
  pthread_mutex_unlock(&a->lock);
  if (sandbox_pidns && path == NULL && !first)
    return veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION,
                           "sandbox_pidns: the sandbox has no pid namespace to share");
  json_t *pid = path ? json_pack("{s:s,s:s}", "type", "pid", "path", path)
                     : json_pack("{s:s}", "type", "pid");
  if (pid == NULL || json_array_append_new(ns, pid) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  return 0;
}

static int do_create(struct agent *a, struct agent_container *c,
                     const Grpc__CreateContainerRequest *r, veil_error_t *err)
{
  for (size_t i = 0; i < r->n_storages; i++) {
    char *m = NULL;
    if (agent_storage_mount(r->storages[i], a->cfg.mount_storages, &m, err) < 0)
      return veil_error_wrap(err, "container %s", c->id);
    if (m) {
      char **v = realloc(c->mounts, (c->n_mounts + 1) * sizeof(*v));
      if (!v) {
        agent_storage_unmount(m);
        free(m);
        return veil_error_make(err, ENOMEM, "out of memory");
      }
      c->mounts = v;
      c->mounts[c->n_mounts++] = m;
    }
  }
  cleanup_with(json_decref) json_t *config = agent_spec_to_json(r->oci, err);
  if (!config)
    return veil_error_wrap(err, "container %s", c->id);
  if (set_pid_namespace(a, config, r->sandbox_pidns, err) < 0 ||
      agent_apply_net_sysctls(config, "/proc/sys", err) < 0)
    return veil_error_wrap(err, "container %s", c->id);
  pthread_mutex_lock(&a->lock);
  int joined = agent_sandbox_ns_join(&a->sandbox_ns, config, err);
  pthread_mutex_unlock(&a->lock);
  if (joined < 0)
    return veil_error_wrap(err, "container %s", c->id);
  if (veil_mkdir_p(c->bundle, 0700, err) < 0)
    return -1;
  char path[4096];
  snprintf(path, sizeof(path), "%s/config.json", c->bundle);
  if (write_json(path, config, err) < 0)
    return -1;

  struct agent_process *p = calloc(1, sizeof(*p));
  if (!p || !(p->exec_id = strdup(c->id))) {
    free(p);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  struct runtime_stdio io;
  if (make_stdio(p, r->oci->process->terminal, &io, err) < 0) {
    agent_process_free(p);
    return -1;
  }
  int pty = -1;
  c->runtime_invoked = true;
  pid_t pid = agent_runtime_start_process(a, c->id, c->bundle, NULL, &io, &pty, err);
  close_child_ends(&io);
  if (pid < 0) {
    agent_process_free(p);
    return veil_error_wrap(err, "create container %s", c->id);
  }
  if (pty >= 0)
    p->stdout_fd = pty;
  /* Found now, while the init process lives: OOM kills are counted there even
   * after it died (until `delete`). */
  c->oom_file = agent_oom_file(pid);
  pthread_mutex_lock(&a->lock);
  p->pid = pid;
  p->next = c->procs;
  c->procs = p;
  /* the pod's first container (the pause container) holds the pod's pid namespace */
  if (a->sandbox_pidns == NULL && a->containers == NULL &&
      asprintf(&a->sandbox_pidns, "/proc/%d/ns/pid", (int)pid) < 0)
    a->sandbox_pidns = NULL;
  pthread_mutex_unlock(&a->lock);
  reaper_adopt(pid);
  return 0;
}

int agent_create_container(struct agent *a, const Grpc__CreateContainerRequest *r, veil_error_t *err)
{
  if (veil_id_check("container_id", r->container_id, err) < 0)
    return -1;
  if (r->exec_id && *r->exec_id && strcmp(r->exec_id, r->container_id) != 0)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                           "exec_id `%s` of a new container must equal its container_id",
                           r->exec_id);
  if (!r->oci)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "CreateContainer without an OCI spec");
  if (!r->oci->process)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "OCI spec has no process");
  pthread_mutex_lock(&a->ops_lock);
  pthread_mutex_lock(&a->lock);
  int rc = 0;
  if (agent_find_container(a, r->container_id))
    rc = veil_error_grpc(err, VEIL_GRPC_ALREADY_EXISTS, "container `%s` already exists",
                         r->container_id);
  else if (a->n_containers >= AGENT_MAX_CONTAINERS)
    rc = veil_error_grpc(err, VEIL_GRPC_RESOURCE_EXHAUSTED, "more than %d containers",
                         AGENT_MAX_CONTAINERS);
  pthread_mutex_unlock(&a->lock);
  if (rc < 0) {
    pthread_mutex_unlock(&a->ops_lock);
    return -1;
  }
  struct agent_container *c = calloc(1, sizeof(*c));
  if (!c || !(c->id = strdup(r->container_id)) ||
      asprintf(&c->bundle, "%s/%s", a->cfg.state_dir, r->container_id) < 0) {
    if (c)
      c->bundle = NULL;
    agent_container_free(c);
    pthread_mutex_unlock(&a->ops_lock);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  if (do_create(a, c, r, err) < 0) {
    /* Leave nothing behind: no runtime state, no mounts, no bundle. */
    const char *args[] = { "delete", "-f", c->id, NULL };
    veil_error_t ignored = NULL;
    if (c->runtime_invoked)
      agent_runtime_run(a, c->bundle, args, &ignored);
    veil_error_release(&ignored);
    release_container(a, c);
    pthread_mutex_unlock(&a->ops_lock);
    return -1;
  }
  pthread_mutex_lock(&a->lock);
  c->state = CONTAINER_CREATED;
  c->next = a->containers;
  a->containers = c;
  a->n_containers++;
  pthread_mutex_unlock(&a->lock);
  pthread_mutex_unlock(&a->ops_lock);
  log_info("container created id=%s", r->container_id);
  return 0;
}

/* Find a container for a lifecycle op; the caller holds ops_lock, so it stays valid. */
static struct agent_container *lookup_container(struct agent *a, const char *id, veil_error_t *err)
{
  pthread_mutex_lock(&a->lock);
  struct agent_container *c = agent_find_container(a, id);
  pthread_mutex_unlock(&a->lock);
  if (!c)
    veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "container `%s` not found", id ? id : "");
  return c;
}

int agent_start_container(struct agent *a, const char *id, veil_error_t *err)
{
  pthread_mutex_lock(&a->ops_lock);
  struct agent_container *c = lookup_container(a, id, err);
  int rc = -1;
  if (!c)
    goto out;
  if (c->state != CONTAINER_CREATED) {
    veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "container `%s` was already started", id);
    goto out;
  }
  const char *args[] = { "start", id, NULL };
  if (agent_runtime_run(a, c->bundle, args, err) < 0) {
    veil_error_wrap(err, "start container %s", id);
    goto out;
  }
  pthread_mutex_lock(&a->lock);
  if (c->state == CONTAINER_CREATED)
    c->state = CONTAINER_RUNNING;
  pthread_mutex_unlock(&a->lock);
  log_info("container started id=%s", id);
  rc = 0;
out:
  pthread_mutex_unlock(&a->ops_lock);
  return rc;
}

/* Wait until every tracked process of c exited; timeout_s 0 = forever. */
static bool wait_all_exited(struct agent *a, struct agent_container *c, uint32_t timeout_s)
{
  struct timespec deadline;
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  deadline.tv_sec += timeout_s ? timeout_s : 3600 * 24 * 365;
  pthread_mutex_lock(&a->lock);
  for (;;) {
    bool all = true;
    for (struct agent_process *p = c->procs; p; p = p->next)
      if (p->pid > 0 && !p->exited)
        all = false;
    if (all)
      break;
    if (pthread_cond_timedwait(&a->cond, &a->lock, &deadline) == ETIMEDOUT) {
      pthread_mutex_unlock(&a->lock);
      return false;
    }
  }
  pthread_mutex_unlock(&a->lock);
  return true;
}

static int kill_and_delete(struct agent *a, struct agent_container *c, uint32_t timeout_s,
                           veil_error_t *err)
{
  const char *kill_args[] = { "kill", "--all", c->id, "KILL", NULL };
  veil_error_t ignored = NULL;
  bool alive = false;
  pthread_mutex_lock(&a->lock);
  for (struct agent_process *p = c->procs; p; p = p->next)
    if (p->pid > 0 && !p->exited) {
      alive = true;
      kill(p->pid, SIGKILL);
    }
  pthread_mutex_unlock(&a->lock);
  if (alive) {
    agent_runtime_run(a, c->bundle, kill_args, &ignored);
    veil_error_release(&ignored);
    if (!wait_all_exited(a, c, timeout_s))
      return veil_error_grpc(err, VEIL_GRPC_DEADLINE_EXCEEDED,
                             "processes of container `%s` did not exit within %us", c->id,
                             timeout_s);
  }
  const char *del_args[] = { "delete", "-f", c->id, NULL };
  if (agent_runtime_run(a, c->bundle, del_args, err) < 0)
    return veil_error_wrap(err, "delete container %s", c->id);
  return 0;
}

int agent_remove_container(struct agent *a, const char *id, uint32_t timeout_s, veil_error_t *err)
{
  pthread_mutex_lock(&a->ops_lock);
  struct agent_container *c = lookup_container(a, id, err);
  int rc = -1;
  if (!c)
    goto out;
  if (kill_and_delete(a, c, timeout_s, err) < 0)
    goto out;
  unlink_container(a, c);
  release_container(a, c);
  log_info("container removed id=%s", id);
  rc = 0;
out:
  pthread_mutex_unlock(&a->ops_lock);
  return rc;
}

void agent_remove_all_containers(struct agent *a)
{
  pthread_mutex_lock(&a->ops_lock);
  for (;;) {
    pthread_mutex_lock(&a->lock);
    struct agent_container *c = a->containers;
    pthread_mutex_unlock(&a->lock);
    if (!c)
      break;
    veil_error_t e = NULL;
    if (kill_and_delete(a, c, 10, &e) < 0) {
      veil_log_error(VEIL_LOG_WARN, e, "destroy sandbox: container %s", c->id);
      veil_error_release(&e);
    }
    unlink_container(a, c);
    release_container(a, c);
  }
  pthread_mutex_unlock(&a->ops_lock);
}

int agent_exec_process(struct agent *a, const Grpc__ExecProcessRequest *r, veil_error_t *err)
{
  if (veil_id_check("exec_id", r->exec_id, err) < 0)
    return -1;
  if (!r->process)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "ExecProcess without a process");
  cleanup_with(json_decref) json_t *pj = agent_process_to_json(r->process, err);
  if (!pj)
    return -1;
  pthread_mutex_lock(&a->ops_lock);
  int rc = -1;
  struct agent_process *p = NULL;
  struct agent_container *c = lookup_container(a, r->container_id, err);
  if (!c)
    goto out;
  pthread_mutex_lock(&a->lock);
  bool dup = agent_find_process(c, r->exec_id) != NULL;
  enum agent_container_state st = c->state;
  pthread_mutex_unlock(&a->lock);
  if (dup) {
    veil_error_grpc(err, VEIL_GRPC_ALREADY_EXISTS, "exec `%s` already exists in container `%s`",
                    r->exec_id, c->id);
    goto out;
  }
  if (st != CONTAINER_RUNNING) {
    veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "container `%s` is not running", c->id);
    goto out;
  }
  char path[4096];
  snprintf(path, sizeof(path), "%s/exec-%s.json", c->bundle, r->exec_id);
  if (write_json(path, pj, err) < 0)
    goto out;
  p = calloc(1, sizeof(*p));
  if (!p || !(p->exec_id = strdup(r->exec_id))) {
    veil_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  struct runtime_stdio io;
  if (make_stdio(p, r->process->terminal, &io, err) < 0)
    goto out;
  int pty = -1;
  pid_t pid = agent_runtime_start_process(a, c->id, c->bundle, path, &io, &pty, err);
  close_child_ends(&io);
  unlink(path);
  if (pid < 0) {
    veil_error_wrap(err, "exec %s in container %s", r->exec_id, c->id);
    goto out;
  }
  if (pty >= 0)
    p->stdout_fd = pty;
  pthread_mutex_lock(&a->lock);
  p->pid = pid;
  p->next = c->procs;
  c->procs = p;
  p = NULL;
  pthread_mutex_unlock(&a->lock);
  reaper_adopt(pid);
  log_info("exec started container=%s exec=%s pid=%d", r->container_id, r->exec_id, (int)pid);
  rc = 0;
out:
  agent_process_free(p);
  pthread_mutex_unlock(&a->ops_lock);
  return rc;
}

/* Whether pid has a handler for sig (SigCgt in /proc/<pid>/status), as kata-agent's
 * is_signal_handled. Unreadable status counts as handled: the signal is then sent as asked. */
static bool signal_is_caught(pid_t pid, int sig)
{
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  cleanup_file FILE *f = fopen(path, "re");
  if (!f)
    return true;
  char line[256];
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, "SigCgt:", 7) != 0)
      continue;
    errno = 0;
    unsigned long long mask = strtoull(line + 7, NULL, 16);
    if (errno != 0)
      return true;
    return (mask >> (sig - 1)) & 1ULL;
  }
  return true;
}

int agent_signal_process(struct agent *a, const char *cid, const char *exec_id, uint32_t sig,
                         veil_error_t *err)
{
  if (sig == 0 || sig >= 65)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "bad signal %u", sig);
  pthread_mutex_lock(&a->ops_lock);
  int rc = -1;
  struct agent_container *c = lookup_container(a, cid, err);
  if (!c)
    goto out;
  /* kata-agent (rpc.rs do_signal_process): an empty exec id with SIGKILL means every
   * process of the container; any other signal with an empty exec id goes to init. */
  bool all = (!exec_id || !*exec_id) && sig == SIGKILL;
  if (all) {
    pthread_mutex_lock(&a->lock);
    bool running = c->state != CONTAINER_STOPPED;
    pthread_mutex_unlock(&a->lock);
    if (running) {
      char signame[16];
      snprintf(signame, sizeof(signame), "%u", sig);
      const char *args[] = { "kill", "--all", c->id, signame, NULL };
      if (agent_runtime_run(a, c->bundle, args, err) < 0)
        goto out;
    }
    rc = 0;
    goto out;
  }
  pthread_mutex_lock(&a->lock);
  struct agent_process *p = agent_find_process(c, exec_id);
  pid_t pid = p && !p->exited ? p->pid : 0;
  bool found = p != NULL;
  bool is_init = p && strcmp(p->exec_id, c->id) == 0;
  pthread_mutex_unlock(&a->lock);
  if (!found) {
    veil_error_grpc(err, VEIL_GRPC_NOT_FOUND, "process `%s` not found in container `%s`",
                    exec_id ? exec_id : "", cid);
    goto out;
  }
  int signo = (int)sig;
  /* A container's init is pid 1 of its pid namespace: the kernel drops signals it has
   * no handler for, so SIGTERM would never end it. kata-agent sends SIGKILL instead. */
  if (pid > 0 && is_init && signo == SIGTERM && !signal_is_caught(pid, SIGTERM))
    signo = SIGKILL;
  if (pid > 0 && kill(pid, signo) < 0 && errno != ESRCH) {
    veil_error_errno(err, "kill %d", (int)pid);
    goto out;
  }
  rc = 0;
out:
  pthread_mutex_unlock(&a->ops_lock);
  return rc;
}

int agent_wait_process(struct agent *a, const char *cid, const char *exec_id, agent_cancel_t cancel,
                       int32_t *status, veil_error_t *err)
{
  pthread_mutex_lock(&a->lock);
  for (;;) {
    struct agent_container *c = NULL;
    struct agent_process *p = agent_lookup_process(a, cid, exec_id, &c, err);
    if (!p) {
      pthread_mutex_unlock(&a->lock);
      return -1;
    }
    if (p->exited) {
      *status = p->exit_code;
      /* As kata-agent (rpc.rs do_wait_process): the waited process is gone. Its streams
       * close (a read in flight keeps its own dup and drains to EOF) and later calls about
       * it are NotFound, so the host must read its output to EOF before it waits. */
      for (struct agent_process **pp = &c->procs; *pp; pp = &(*pp)->next)
        if (*pp == p) {
          *pp = p->next;
          break;
        }
      agent_process_free(p);
      break;
    }
    if (cancel && *cancel) {
      pthread_mutex_unlock(&a->lock);
      return veil_error_grpc(err, VEIL_GRPC_CANCELLED, "WaitProcess cancelled");
    }
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_nsec += 200 * 1000 * 1000;
    if (ts.tv_nsec >= 1000000000)
      ts.tv_sec++, ts.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&a->cond, &a->lock, &ts);
  }
  pthread_mutex_unlock(&a->lock);
  return 0;
}

int agent_pause_container(struct agent *a, const char *id, bool pause, veil_error_t *err)
{
  pthread_mutex_lock(&a->ops_lock);
  int rc = -1;
  struct agent_container *c = lookup_container(a, id, err);
  if (!c)
    goto out;
  enum agent_container_state want = pause ? CONTAINER_RUNNING : CONTAINER_PAUSED;
  if (c->state != want) {
    veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION, "container `%s` is not %s", id,
                    pause ? "running" : "paused");
    goto out;
  }
  const char *args[] = { pause ? "pause" : "resume", id, NULL };
  if (agent_runtime_run(a, c->bundle, args, err) < 0)
    goto out;
  pthread_mutex_lock(&a->lock);
  if (c->state == want)
    c->state = pause ? CONTAINER_PAUSED : CONTAINER_RUNNING;
  pthread_mutex_unlock(&a->lock);
  rc = 0;
out:
  pthread_mutex_unlock(&a->ops_lock);
  return rc;
}

int agent_update_container(struct agent *a, const Grpc__UpdateContainerRequest *r, veil_error_t *err)
{
  if (!r->resources)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "UpdateContainer without resources");
  cleanup_with(json_decref) json_t *res = agent_resources_to_json(r->resources);
  pthread_mutex_lock(&a->ops_lock);
  int rc = -1;
  struct agent_container *c = lookup_container(a, r->container_id, err);
  if (!c)
    goto out;
  char path[4096];
  snprintf(path, sizeof(path), "%s/resources.json", c->bundle);
  if (write_json(path, res, err) < 0)
    goto out;
  const char *args[] = { "update", "--resources", path, c->id, NULL };
  if (agent_runtime_run(a, c->bundle, args, err) < 0)
    goto out;
  rc = 0;
out:
  pthread_mutex_unlock(&a->ops_lock);
  return rc;
}
