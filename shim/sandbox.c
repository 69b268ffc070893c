/* The pod's VM: boot it on the first Create, reach the agent, CreateSandbox; watch the
 * VMM; tear it all down when the last container goes. A failed boot leaves nothing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "common/text.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "github.com/containerd/containerd/api/events/task.pb-c.h"
#include "shim/bundle.h"
#include "shim/events.h"
#include "shim/sandbox_extras.h"
#include "shim/shim.h"
#include "shim/state_dir.h"

#define SHARE_TAG "kataShared" /* kata's mountGuestTag */
#define DNS_FILE_MAX (64u * 1024)
#define DNS_LINES_MAX 256u
#define CONSOLE_TAIL_BYTES 1500

static pthread_mutex_t boot_lock = PTHREAD_MUTEX_INITIALIZER;

bool shim_sandbox_has_shared_fs(const struct shim *s)
{
  const struct veil_config *c = s->sandbox.config;
  return c && c->shared_fs && strcmp(c->shared_fs, "none") != 0;
}

/* The last bytes of the guest console, to explain a VM that never reached its agent. */
static char *console_tail(struct veil_vm *vm)
{
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/console.log", veil_vm_run_dir(vm));
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return strdup("(no console log)");
  off_t end = lseek(fd, 0, SEEK_END);
  off_t from = end > CONSOLE_TAIL_BYTES ? end - CONSOLE_TAIL_BYTES : 0;
  char *buf = calloc(1, CONSOLE_TAIL_BYTES + 1);
  if (buf == NULL)
    return NULL;
  ssize_t n = pread(fd, buf, CONSOLE_TAIL_BYTES, from);
  buf[n > 0 ? n : 0] = '\0';
  /* the guest wrote it: printable UTF-8 before it reaches containerd */
  char *clean = veil_text_sanitize_lines(buf, (size_t)(n > 0 ? n : 0), CONSOLE_TAIL_BYTES);
  free(buf);
  return clean;
}

static bool vm_alive(void *user)
{
  int status;
  return !veil_vm_exited(user, &status);
}

/* Wait for the agent to answer Check; fail fast, with the console tail, if the VM dies. */
static veil_agent *dial_agent(struct veil_vm *vm, unsigned timeout_s, veil_error_t *err)
{
  veil_agent *a = veil_agent_dial_ready(veil_vm_agent_address(vm), (int)timeout_s * 1000,
                                        vm_alive, vm, err);
  if (a)
    return a;
  int status = 0;
  cleanup_free char *tail = console_tail(vm);
  if (veil_vm_exited(vm, &status))
    veil_error_wrap(err, "the VM exited (wait status %d) before its agent answered; guest "
                    "console tail:\n%s\n", status, tail ? tail : "");
  else
    veil_error_wrap(err, "the agent did not answer within the dial timeout of %u s (check the "
                    "guest kernel/initrd of the runtime config); guest console tail:\n%s\n",
                    timeout_s, tail ? tail : "");
  return NULL;
}

static void *vm_monitor(void *arg)
{
  struct shim *s = arg;
  int fd = veil_vm_exit_fd(s->sandbox.vm);
  for (;;) {
    struct pollfd pf = {fd, POLLIN, 0};
    int r = poll(&pf, 1, 500);
    if (r < 0 && errno != EINTR)
      break;
    pthread_mutex_lock(&s->lock);
    bool destroyed = s->sandbox.destroyed;
    pthread_mutex_unlock(&s->lock);
    if (destroyed)
      return NULL;
    if (r > 0)
      break;
  }
  int status = 0;
  veil_vm_exited(s->sandbox.vm, &status);
  pthread_mutex_lock(&s->lock);
  if (!s->sandbox.destroyed) {
    log_error("sandbox %s: the VM exited unexpectedly (wait status %d): failing every task",
              s->sandbox.id, status);
    s->sandbox.vm_gone = true;
    if (s->sandbox.agent)
      veil_agent_close(s->sandbox.agent); /* pending agent calls fail → TaskExit */
    for (struct shim_container *c = s->containers; c; c = c->next) {
      if (c->init && !c->init->waiter_started && !c->init->exited)
        shim_process_mark_exited(s, c->init, 255);
      for (struct shim_process *p = c->execs; p; p = p->next)
        if (!p->waiter_started && !p->exited && p->started)
          shim_process_mark_exited(s, p, 255);
    }
  }
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

#define OOM_EVENT_INTERVAL_NS 1000000000LL /* at most one TaskOOM per container per second */

/* The guest names the container: publish only for ours (a guest must not mark other pods'
 * containers OOMKilled), and coalesce a flood. Called with s->lock held. */
static void publish_oom(struct shim *s, const char *container_id)
{
  struct shim_container *c = shim_find_container(s, container_id);
  if (c == NULL) {
    log_debug("sandbox %s: OOM event for a container this shim does not run: ignored",
              s->sandbox.id);
    return;
  }
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  long long since = (now.tv_sec - c->last_oom.tv_sec) * 1000000000LL +
                    (now.tv_nsec - c->last_oom.tv_nsec);
  if ((c->last_oom.tv_sec || c->last_oom.tv_nsec) && since < OOM_EVENT_INTERVAL_NS)
    return;
  c->last_oom = now;
  Containerd__Events__TaskOOM oom = CONTAINERD__EVENTS__TASK_OOM__INIT;
  oom.container_id = c->id; /* our copy, not the guest's bytes */
  shim_events_publish(s->events, "/tasks/oom", &oom.base);
}

static void *oom_watcher(void *arg)
{
  struct shim *s = arg;
  for (;;) {
    cleanup_error veil_error_t err = NULL;
    Grpc__GetOOMEventRequest req = GRPC__GET_OOMEVENT_REQUEST__INIT;
    Grpc__OOMEvent *ev = NULL;
    if (SHIM_AGENT_CALL(s, &err, veil_agent_get_oom_event, &req, &ev) < 0)
      break; /* Unimplemented, or the agent is gone */
    pthread_mutex_lock(&s->lock);
    publish_oom(s, ev->container_id);
    pthread_mutex_unlock(&s->lock);
    protobuf_c_message_free_unpacked(&ev->base, NULL);
  }
  return NULL;
}

/* kata's getDNS: the lines of the file the sandbox spec bind-mounts at /etc/resolv.conf
 * (kata_agent.go:796-817; strings.Split, so a trailing newline gives a last empty line). */
static int sandbox_dns(const json_t *spec, char ***lines, size_t *n, char **text,
                       veil_error_t *err)
{
  *lines = NULL;
  *n = 0;
  *text = NULL;
  size_t i;
  json_t *m;
  json_array_foreach(json_object_get(spec, "mounts"), i, m) {
    const char *dest = json_string_value(json_object_get(m, "destination"));
    const char *source = json_string_value(json_object_get(m, "source"));
    if (dest == NULL || strcmp(dest, "/etc/resolv.conf") != 0 || source == NULL)
      continue;
    if (veil_read_file(source, DNS_FILE_MAX, text, NULL, err) < 0)
      return veil_error_wrap(err, "the pod's DNS config");
    size_t count = 1;
    for (const char *p = *text; *p; p++)
      count += *p == '\n';
    if (count > DNS_LINES_MAX)
      return veil_error_make(err, E2BIG, "the pod's DNS config `%s` has more than %u lines",
                             source, DNS_LINES_MAX);
    *lines = calloc(count, sizeof(char *));
    if (*lines == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    for (char *p = *text;; p++) { /* split in place */
      (*lines)[(*n)++] = p;
      p = strchrnul(p, '\n');
      if (*p == '\0')
        break;
      *p = '\0';
    }
    return 0;
  }
  return 0;
}

static int create_sandbox_rpc(struct shim *s, const json_t *spec, veil_error_t *err)
{
  Grpc__CreateSandboxRequest req = GRPC__CREATE_SANDBOX_REQUEST__INIT;
  Grpc__Storage share = GRPC__STORAGE__INIT, shm = GRPC__STORAGE__INIT;
  Grpc__Storage *storages[2];
  /* kata's sharedDir9pOptions with the msize veil boots with */
  char *share_opts[] = {"trans=virtio,version=9p2000.L,cache=mmap", "nodev", "msize=524288"};
  char shm_size_opt[40];
  char *shm_opts[] = {"noexec", "nosuid", "nodev", "mode=1777", shm_size_opt};
  json_t *hostname = json_object_get(spec, "hostname");
  char host[65]; /* kata's maxHostnameLen: 64 */
  snprintf(host, sizeof(host), "%s", json_is_string(hostname) ? json_string_value(hostname) : "");
  req.hostname = host;
  req.sandbox_id = s->sandbox.id;
  if (shim_sandbox_has_shared_fs(s)) {
    bool virtiofs = strcmp(s->sandbox.config->shared_fs, "virtio-fs") == 0;
    share.driver = virtiofs ? "virtio-fs" : "9p";
    share.source = SHARE_TAG;
    share.fstype = virtiofs ? "virtiofs" : "9p";
    share.options = virtiofs ? NULL : share_opts;
    share.n_options = virtiofs ? 0 : 3;
    share.mount_point = GUEST_SHARED_DIR;
    storages[req.n_storages++] = &share;
  }
  if (s->sandbox.shm_size > 0) { /* kata's sandbox shm: one /dev/shm for the whole pod */
    snprintf(shm_size_opt, sizeof(shm_size_opt), "size=%llu",
             (unsigned long long)s->sandbox.shm_size);
    shm.driver = "ephemeral";
    shm.mount_point = GUEST_SANDBOX_SHM;
    shm.source = "shm";
    shm.fstype = "tmpfs";
    shm.options = shm_opts;
    shm.n_options = 5;
    storages[req.n_storages++] = &shm;
  }
  req.storages = req.n_storages ? storages : NULL;
  cleanup_free char **dns = NULL;
  cleanup_free char *dns_text = NULL;
  if (sandbox_dns(spec, &dns, &req.n_dns, &dns_text, err) < 0)
    return -1;
  req.dns = dns;
  return SHIM_AGENT_CALL(s, err, veil_agent_create_sandbox, &req);
}

/* After the VM is gone: the share (its binds, the export), then the state dir. */
static void remove_state(struct shim_sandbox *sb)
{
  if (sb->state_dir[0] == '\0')
    return;
  cleanup_error veil_error_t err = NULL;
  if (shim_share_teardown(&sb->share, &err) < 0)
    log_warn("sandbox %s: share: %s", sb->id, err->msg);
  else if (shim_state_dir_remove(sb->state_dir, &err) < 0)
    log_warn("remove %s: %s", sb->state_dir, err->msg);
  sb->state_dir[0] = '\0';
}

static void boot_cleanup(struct shim *s)
{
  struct shim_sandbox *sb = &s->sandbox;
  if (sb->agent)
    veil_agent_free(sb->agent);
  sb->agent = NULL;
  if (sb->monitor_started) {
    sb->destroyed = true;
    pthread_join(sb->monitor_thread, NULL);
    sb->monitor_started = false;
    sb->destroyed = false;
  }
  veil_vm_free(sb->vm);
  sb->vm = NULL;
  shim_pod_network_teardown(&sb->net, sb->id);
  remove_state(sb);
  veil_config_free(sb->config);
  sb->config = NULL;
}

static int boot(struct shim *s, const char *id, const json_t *spec, const char *cfg_path_opt,
                veil_error_t *err)
{
  struct shim_sandbox *sb = &s->sandbox;
  cleanup_free char *cfg_path = NULL;
  __attribute__((cleanup(shim_sandbox_extras_clear))) struct sandbox_extras extras = {0};
  if (veil_config_resolve_path(cfg_path_opt, &cfg_path, err) < 0 ||
      veil_config_load(cfg_path, &sb->config, err) < 0)
    return veil_error_wrap_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "runtime config");
  if (sb->id == NULL && (sb->id = strdup(id)) == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (shim_state_dir_create(id, sb->state_dir, sizeof(sb->state_dir), err) < 0 ||
      shim_state_write_pid(sb->state_dir, "shim.pid", getpid(), err) < 0)
    goto fail;

  if (shim_spec_shm_size(spec, &sb->shm_size, err) < 0 ||
      (shim_sandbox_has_shared_fs(s) && shim_share_setup(&sb->share, sb->state_dir, err) < 0))
    goto fail;
  struct veil_vm_share share = {SHARE_TAG, sb->share.export_dir, false};
  if (shim_sandbox_extras_prepare(s, spec, &extras, err) < 0)
    goto fail;
  const char *netns = s->api.netns_path && s->api.netns_path[0] ? s->api.netns_path
                                                                 : shim_spec_netns_path(spec);
  if (shim_pod_network_prepare(&sb->net, netns, sb->config, id, err) < 0)
    goto fail;
  struct veil_vm_spec vs = {
      .config = sb->config,
      .id = id,
      .vcpus = extras.vcpus,
      .memory_mb = extras.memory_mb,
      .extra_kernel_params = extras.kernel_params[0] ? extras.kernel_params : NULL,
      .shares = shim_sandbox_has_shared_fs(s) ? &share : NULL,
      .n_shares = shim_sandbox_has_shared_fs(s) ? 1 : 0,
      .disks = extras.disks,
      .n_disks = extras.n_disks,
      .initdata_digest = extras.initdata_digest_len ? extras.initdata_digest : NULL,
      .initdata_digest_len = extras.initdata_digest_len,
      .nics = sb->net.scan.n_ifaces ? sb->net.nics : NULL,
      .n_nics = sb->net.scan.n_ifaces,
  };
  log_info("sandbox %s: booting a %s VM (config %s)", id, veil_profile_name(sb->config->profile),
           cfg_path);
  int started = veil_vm_start(&vs, &sb->vm, err);
  shim_pod_network_started(&sb->net);
  if (started < 0) {
    veil_error_wrap(err, "boot the VM of sandbox %s", id);
    goto fail;
  }
  if (shim_pod_network_adopt(&sb->net, err) < 0)
    goto fail;
  if (shim_state_write_pid(sb->state_dir, "vmm.pid", veil_vm_pid(sb->vm), err) < 0)
    goto fail;
  shim_sandbox_extras_record_measurement(s, &vs);
  if (pthread_create(&sb->monitor_thread, NULL, vm_monitor, s) != 0) {
    veil_error_make(err, EAGAIN, "start the VM monitor");
    goto fail;
  }
  sb->monitor_started = true;

  veil_agent *agent = dial_agent(sb->vm, sb->config->dial_timeout_s, err);
  if (agent == NULL) {
    veil_error_wrap(err, "sandbox %s", id);
    goto fail;
  }
  /* debugging aid and the golden-request test: every agent request as a JSON line */
  const char *request_log = getenv("VEIL_AGENT_REQUEST_LOG");
  if (request_log && request_log[0]) {
    int fd = open(request_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
      log_warn("VEIL_AGENT_REQUEST_LOG `%s`: %s", request_log, strerror(errno));
    else
      veil_agent_log_requests(agent, fd);
  }
  pthread_mutex_lock(&s->lock);
  sb->agent = agent;
  pthread_mutex_unlock(&s->lock);
  /* kata's startSandbox: policy, then setupNetworks, then CreateSandbox */
  if (shim_sandbox_extras_apply_policy(s, &extras, err) < 0 ||
      shim_pod_network_configure_guest(s, &sb->net, err) < 0 ||
      create_sandbox_rpc(s, spec, err) < 0 || shim_initdata_verify(s, &extras, err) < 0) {
    veil_error_wrap(err, "sandbox %s", id);
    goto fail;
  }
  if (pthread_create(&sb->oom_thread, NULL, oom_watcher, s) == 0)
    sb->oom_started = true;
  log_info("sandbox %s: ready (VMM pid %d, agent %s)", id, (int)veil_vm_pid(sb->vm),
           veil_vm_agent_address(sb->vm));
  pthread_mutex_lock(&s->lock);
  sb->ready = true;
  pthread_mutex_unlock(&s->lock);
  return 0;

fail:
  boot_cleanup(s);
  return -1;
}

int shim_sandbox_ensure(struct shim *s, const char *id, const json_t *spec,
                        const char *options_config_path, veil_error_t *err)
{
  pthread_mutex_lock(&boot_lock);
  int r = 0;
  if (s->sandbox.vm_gone || s->sandbox.destroyed)
    r = veil_error_grpc(err, VEIL_GRPC_FAILED_PRECONDITION,
                        "sandbox %s: its VM is gone; delete the sandbox and create a new one",
                        s->sandbox.id ? s->sandbox.id : id);
  else if (!s->sandbox.ready)
    r = boot(s, id, spec, options_config_path, err);
  else if (strcmp(s->sandbox.id, id) != 0)
    r = veil_error_make(err, EINVAL, "container belongs to sandbox %s but this shim serves %s",
                        id, s->sandbox.id);
  pthread_mutex_unlock(&boot_lock);
  return r;
}

void shim_sandbox_destroy(struct shim *s)
{
  pthread_mutex_lock(&boot_lock);
  struct shim_sandbox *sb = &s->sandbox;
  if (sb->vm == NULL || sb->destroyed) {
    pthread_mutex_unlock(&boot_lock);
    return;
  }
  log_info("sandbox %s: destroying", sb->id);
  if (!sb->vm_gone) {
    cleanup_error veil_error_t err = NULL;
    Grpc__DestroySandboxRequest req = GRPC__DESTROY_SANDBOX_REQUEST__INIT;
    if (SHIM_AGENT_CALL(s, &err, veil_agent_destroy_sandbox, &req) < 0)
      log_warn("sandbox %s: %s", sb->id, err->msg);
  }
  pthread_mutex_lock(&s->lock);
  sb->destroyed = true;
  sb->ready = false;
  if (sb->agent)
    veil_agent_close(sb->agent);
  pthread_mutex_unlock(&s->lock);
  cleanup_error veil_error_t err = NULL;
  /* After DestroySandbox the guest holds nothing worth a graceful shutdown (its root is
   * a tmpfs, the share is unmounted host-side): quit at once, as kata does. */
  if (!sb->vm_gone && veil_vm_stop(sb->vm, 0, &err) < 0)
    log_warn("sandbox %s: stop VM: %s", sb->id, err->msg);
  veil_vm_kill(sb->vm);
  if (sb->monitor_started)
    pthread_join(sb->monitor_thread, NULL);
  sb->monitor_started = false;
  if (sb->oom_started)
    pthread_join(sb->oom_thread, NULL);
  sb->oom_started = false;
  veil_vm_free(sb->vm);
  sb->vm = NULL;
  shim_pod_network_teardown(&sb->net, sb->id);
  remove_state(sb);
  pthread_mutex_unlock(&boot_lock);
}
