/* QEMU backend: prepare, the agent channel (and its helper), build argv, launch, wait for QMP,
 * and the stop/kill/exit paths. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "hypervisor/argvec.h"
#include "hypervisor/qemu_argv.h"
#include "hypervisor/qemu_launch.h"
#include "hypervisor/qmp.h"
#include "hypervisor/vm_internal.h"

#define QMP_START_TIMEOUT_MS 30000
#define QMP_COMMAND_TIMEOUT_MS 5000
#define QUIT_GRACE_MS 5000
#define STDERR_TAIL 1024
#define EXIT_GRACE_MS 2000

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reap if exited (non-blocking) and note why. */
static bool qemu_exited(struct veil_vm *vm, int *status)
{
  int st;
  pid_t r;
  while ((r = waitpid(vm->pid, &st, WNOHANG)) < 0 && errno == EINTR)
    ;
  if (r < 0 && errno == ECHILD)  /* reaped elsewhere (another thread): it is gone */
    st = vm->reaped ? vm->status : 0;
  else if (r != vm->pid)
    return false;
  *status = st;
  if (vm->qmp)
    veil_qmp_drain_events(vm->qmp);
  const struct veil_qmp_events *ev = vm->qmp ? veil_qmp_events(vm->qmp) : NULL;
  if (vm->exit_reason[0] == '\0') {
    const char *why = ev && ev->guest_panicked ? "guest-panicked"
                    : ev && ev->guest_shutdown ? "guest-shutdown"
                    : WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL ? "killed" : "exited";
    snprintf(vm->exit_reason, sizeof(vm->exit_reason), "%s", why);
  }
  return true;
}

static bool wait_exit(struct veil_vm *vm, int timeout_ms)
{
  long long deadline = now_ms() + timeout_ms;
  for (;;) {
    if (vm->reaped || qemu_exited(vm, &vm->status)) {
      vm->reaped = true;
      return true;
    }
    long long left = deadline - now_ms();
    if (left <= 0)
      return false;
    veil_pidfd_wait(vm->pidfd, (int)left);
  }
}

static void qemu_kill(struct veil_vm *vm)
{
  if (vm->reaped || vm->pid <= 0)
    return;
  if (vm->exit_reason[0] == '\0')
    snprintf(vm->exit_reason, sizeof(vm->exit_reason), "killed");
  kill(vm->pid, SIGKILL);
  int st;
  while (waitpid(vm->pid, &st, 0) < 0 && errno == EINTR)
    ;
  vm->status = st;
  vm->reaped = true;
}

static int qemu_stop(struct veil_vm *vm, int timeout_ms, veil_error_t *err)
{
  (void)err;
  cleanup_error veil_error_t e = NULL;
  if (vm->qmp && veil_qmp_execute(vm->qmp, "system_powerdown", NULL, QMP_COMMAND_TIMEOUT_MS, NULL, &e) < 0)
    log_debug("vm=%s system_powerdown: %s", vm->id, e->msg);
  if (wait_exit(vm, timeout_ms))
    return 0;
  veil_error_release(&e);
  snprintf(vm->exit_reason, sizeof(vm->exit_reason), "quit");
  if (vm->qmp && veil_qmp_execute(vm->qmp, "quit", NULL, QMP_COMMAND_TIMEOUT_MS, NULL, &e) < 0)
    log_debug("vm=%s quit: %s", vm->id, e->msg);
  if (wait_exit(vm, QUIT_GRACE_MS))
    return 0;
  log_warn("vm=%s QEMU ignored system_powerdown and quit: killing pid %d", vm->id, (int)vm->pid);
  vm->exit_reason[0] = '\0';
  qemu_kill(vm);
  return 0;
}

static void qemu_release(struct veil_vm *vm)
{
  veil_qmp_free(vm->qmp);
  vm->qmp = NULL;
}

static const struct veil_vm_backend qemu_backend = {
  .stop = qemu_stop,
  .kill = qemu_kill,
  .exited = qemu_exited,
  .release = qemu_release,
};

static int exited_error(struct veil_vm *vm, const char *log, veil_error_t *err)
{
  cleanup_free char *tail = veil_file_tail(log, STDERR_TAIL);
  return veil_error_make(err, ECHILD, "QEMU exited during start (%s %d): %s",
                         WIFSIGNALED(vm->status) ? "signal" : "status",
                         WIFSIGNALED(vm->status) ? WTERMSIG(vm->status) : WEXITSTATUS(vm->status),
                         tail && tail[0] ? tail : "(no output)");
}

/* Connect to QMP once QEMU has created its socket; fail early (with its stderr) if it exits. */
static int wait_qmp(struct veil_vm *vm, const char *sock, const char *log, veil_error_t *err)
{
  long long deadline = now_ms() + QMP_START_TIMEOUT_MS;
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(sock) >= sizeof(sa.sun_path))
    return veil_error_make(err, ENAMETOOLONG, "QMP socket path `%s` is too long (shorten run_dir)", sock);
  strcpy(sa.sun_path, sock);
  for (;;) {
    if (qemu_exited(vm, &vm->status))
      return exited_error(vm, log, err);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
      return veil_error_errno(err, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
      if (veil_qmp_open_fd(fd, QMP_COMMAND_TIMEOUT_MS, &vm->qmp, err) < 0) {
        /* QEMU opens the socket before it validates everything: it may be on its way out */
        if (wait_exit(vm, EXIT_GRACE_MS)) {
          veil_error_release(err);
          return exited_error(vm, log, err);
        }
        cleanup_free char *tail = veil_file_tail(log, STDERR_TAIL);
        return veil_error_wrap(err, "QEMU stderr: %s", tail && tail[0] ? tail : "(none)");
      }
      steal_fd(&fd);
      return 0;
    }
    if (errno != ENOENT && errno != ECONNREFUSED)
      return veil_error_errno(err, "connect to QMP socket `%s`", sock);
    if (now_ms() > deadline)
      return veil_error_make(err, ETIMEDOUT, "QEMU did not open its QMP socket within %d ms",
                             QMP_START_TIMEOUT_MS);
    veil_pidfd_wait(vm->pidfd, 20);
  }
}

static int check_running(struct veil_vm *vm, veil_error_t *err)
{
  json_t *st = NULL;
  if (veil_qmp_execute(vm->qmp, "query-status", NULL, QMP_COMMAND_TIMEOUT_MS, &st, err) < 0)
    return -1;
  const char *status = json_string_value(json_object_get(st, "status"));
  int r = 0;
  if (status == NULL || (strcmp(status, "running") != 0 && strcmp(status, "prelaunch") != 0))
    r = veil_error_make(err, EIO, "QEMU reports status `%s` after start, not running", status ? status : "?");
  json_decref(st);
  return r;
}

/* The fds QEMU gets for the NICs: tap i at VEIL_QEMU_NIC_FD(i), and, with KVM, a /dev/vhost-net
 * at the next number (vhost-net needs KVM's ioeventfd/irqfd; as libvirt, none under TCG).
 * *vhost is false when /dev/vhost-net is absent (e.g. no vhost_net in the kernel). */
static int nic_fds(const struct veil_vm_spec *spec, int fds[2 * VEIL_VM_MAX_NICS], bool *vhost, veil_error_t *err)
{
  *vhost = spec->n_nics > 0 && strcmp(spec->config->accel, "kvm") == 0;
  for (size_t i = 0; i < spec->n_nics; i++) {
    if (spec->nics[i].tap_fd < 0)
      return veil_error_make(err, EINVAL, "NIC %zu: the QEMU backend needs an open tap (tap_fd, from "
                             "podnet_attach)", i);
    fds[2 * i] = spec->nics[i].tap_fd;
    fds[2 * i + 1] = -1;
  }
  for (size_t i = 0; *vhost && i < spec->n_nics; i++)
    if ((fds[2 * i + 1] = open("/dev/vhost-net", O_RDWR | O_CLOEXEC)) < 0) {
      log_debug("vm=%s no vhost-net: open /dev/vhost-net: %s", spec->id, strerror(errno));
      *vhost = false;
    }
  if (!*vhost)
    for (size_t i = 0; i < spec->n_nics; i++)
      veil_cleanup_closep(&fds[2 * i + 1]);
  return 0;
}

static void close_vhost_net(int fds[2 * VEIL_VM_MAX_NICS], size_t n_nics)
{
  for (size_t i = 0; i < n_nics; i++)
    veil_cleanup_closep(&fds[2 * i + 1]);  /* the taps are the caller's */
}

int veil_vm_qemu_start(const struct veil_vm_spec *spec, struct veil_vm *vm, veil_error_t *err)
{
  const struct veil_config *c = spec->config;
  int fds[2 * VEIL_VM_MAX_NICS];
  bool vhost_net = false;
  if (veil_vm_check_nics(spec, err) < 0 || nic_fds(spec, fds, &vhost_net, err) < 0)
    return -1;
  struct veil_vm_prep prep;
  if (veil_vm_prepare(spec, &prep, err) < 0) {
    close_vhost_net(fds, spec->n_nics);
    return -1;
  }
  vm->backend = &qemu_backend;
  int r = -1;
  cleanup_strv char **argv = NULL;
  cleanup_free char *log = NULL, *qmp_sock = NULL;
  if ((vm->id = strdup(spec->id)) == NULL) {
    veil_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  if (veil_vm_make_run_dir(spec, &vm->run_dir, err) < 0)
    goto out;
  if (c->qemu_user[0]) {  /* QEMU and the vsock helper create their sockets in the run dir */
    uid_t uid;
    gid_t gid;
    if (veil_lookup_user(c->qemu_user, &uid, &gid, err) < 0)
      goto fail;
    if (chown(vm->run_dir, uid, gid) < 0) {
      veil_error_errno(err, "chown run dir `%s` to %s", vm->run_dir, c->qemu_user);
      goto fail;
    }
  }
  struct veil_channel_host host = { .root = "/", .reserve_cid = true };
  if (veil_vm_channel_start(vm, c, &host, c->qemu_user, err) < 0)
    goto fail;
  struct veil_qemu_plan plan = {
    .spec = spec, .run_dir = vm->run_dir, .firmware = prep.firmware, .fw_mapping = prep.fw_mapping,
    .cbitpos = prep.cbitpos, .reduced_phys_bits = prep.reduced_phys_bits, .channel = &vm->channel,
    .id_block_b64 = prep.id_block_b64, .id_auth_b64 = prep.id_auth_b64, .sandbox = prep.sandbox,
    .vhost_net = vhost_net,
  };
  if (veil_qemu_build_argv(&plan, &argv, err) < 0)
    goto fail;
  if (asprintf(&log, "%s/" VEIL_VM_QEMU_LOG, vm->run_dir) < 0 ||
      asprintf(&qmp_sock, "%s/qmp.sock", vm->run_dir) < 0) {
    veil_error_make(err, ENOMEM, "out of memory");
    goto fail;
  }
  if (c->debug) {
    cleanup_free char *line = veil_strv_join(argv, " ");
    log_debug("vm=%s launch: %s", spec->id, line ? line : "?");
  }
  struct veil_launch l = {
    .argv = argv, .log_path = log, .vhost_fd = vm->channel.vhost_fd, .user = c->qemu_user,
    .drop_caps = c->hardening, .pass_fds = fds, .n_pass_fds = 2 * spec->n_nics,
    .pass_base = VEIL_QEMU_NIC_FD(0),
  };
  if (veil_qemu_launch(&l, &vm->pid, err) < 0)
    goto fail;
  if ((vm->pidfd = veil_pidfd_open(vm->pid)) < 0) {
    veil_error_errno(err, "pidfd_open %d", (int)vm->pid);
    goto fail;
  }
  /* QEMU holds its own copy of the vhost fd now: the CID stays reserved while it runs */
  veil_cleanup_closep(&vm->channel.vhost_fd);
  if (wait_qmp(vm, qmp_sock, log, err) < 0 || check_running(vm, err) < 0)
    goto fail;
  r = 0;
  goto out;
fail:
  qemu_kill(vm);
  qemu_release(vm);
  veil_vm_channel_stop(vm);
  veil_cleanup_closep(&vm->pidfd);
  if (vm->run_dir) {
    cleanup_error veil_error_t e = NULL;
    if (veil_remove_tree(vm->run_dir, &e) < 0)
      veil_log_error(VEIL_LOG_WARN, e, "remove run dir");
  }
out:
  close_vhost_net(fds, spec->n_nics);  /* QEMU holds its own copies */
  veil_vm_prep_clear(&prep);
  return r;
}
