/* The public VM interface: argument checks, preparation shared by both backends (QEMU
 * capabilities, firmware, host TEE, SNP ID block), run dir, the agent channel and its helper
 * process, dispatch, and the VM's exit (QEMU's, or the channel helper's: then the VM is
 * killed, its agent being unreachable). */
#include "hypervisor/vm.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/id.h"
#include "common/log.h"
#include "common/pidfile.h"
#include "common/sha256.h"
#include "hypervisor/host_probe.h"
#include "hypervisor/qemu_argv.h"
#include "hypervisor/qemu_caps.h"
#include "hypervisor/qmp.h"
#include "hypervisor/vm_internal.h"

VEIL_DEFINE_CLEANUP(struct veil_host_probe, veil_host_probe_free)

void veil_vm_prep_clear(struct veil_vm_prep *prep)
{
  free(prep->firmware);
  free(prep->id_block_b64);
  free(prep->id_auth_b64);
  memset(prep, 0, sizeof(*prep));
}

static int read_b64_file(const char *key, const char *path, size_t want, char **out, veil_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  if (veil_read_file(path, want + 1, &data, &len, err) < 0)
    return veil_error_wrap(err, "config key %s", key);
  if (len != want)
    return veil_error_make(err, EINVAL, "config key %s: `%s` holds %zu bytes, expected %zu", key, path,
                           len, want);
  if ((*out = veil_base64_encode((unsigned char *)data, len)) == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  return 0;
}

static int check_readable(const char *key, const char *path, veil_error_t *err)
{
  if (access(path, R_OK) < 0)
    return veil_error_errno(err, "%s `%s` (config key %s)", key, path, key);
  return 0;
}

int veil_vm_prepare(const struct veil_vm_spec *spec, struct veil_vm_prep *prep, veil_error_t *err)
{
  const struct veil_config *c = spec->config;
  memset(prep, 0, sizeof(*prep));
  if (check_readable("kernel", c->kernel, err) < 0 ||
      (c->initrd[0] && check_readable("initrd", c->initrd, err) < 0))
    return -1;
  for (size_t i = 0; i < spec->n_disks; i++)
    if (access(spec->disks[i].path, R_OK) < 0)
      return veil_error_errno(err, "disk `%s`", spec->disks[i].path);
  for (size_t i = 0; i < spec->n_shares; i++) {
    struct stat st;
    if (stat(spec->shares[i].host_path, &st) < 0 || !S_ISDIR(st.st_mode))
      return veil_error_make(err, errno ? errno : ENOTDIR, "share `%s` (tag %s) is not a directory",
                             spec->shares[i].host_path, spec->shares[i].tag);
  }
  if (veil_agent_channel_available(c, "/", err) < 0)
    return -1;
  const struct veil_qemu_caps *caps = NULL;
  if (veil_qemu_caps_get(c->qemu_path, &caps, err) < 0 || veil_qemu_caps_check_profile(caps, c, err) < 0)
    return -1;
  prep->sandbox = c->hardening;
  enum veil_tee tee;
  bool is_tee = veil_profile_tee(c->profile, &tee);
  /* firmware: an explicit path wins; TEEs otherwise select from the descriptors */
  if (c->firmware[0]) {
    if (check_readable("firmware", c->firmware, err) < 0)
      return -1;
    prep->firmware = strdup(c->firmware);
    prep->fw_mapping = is_tee ? veil_tee_fw_mapping(tee) : VEIL_FW_MEMORY;
    if (prep->firmware == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
  } else if (is_tee && tee != VEIL_TEE_SE) {
    if (veil_firmware_select(NULL, "/", tee, &prep->firmware, &prep->fw_mapping, err) < 0)
      return veil_error_wrap(err, "profile %s (set firmware in `%s` or install a descriptor)",
                             veil_profile_name(c->profile), c->path ? c->path : "config");
  }
  if (is_tee) {
    cleanup_with(veil_host_probe_free) struct veil_host_probe *hp = NULL;
    struct veil_probe_opts o = { .root = "/" };
    if (veil_host_probe(&o, &hp, err) < 0 || veil_host_check_profile(hp, c->profile, err) < 0) {
      veil_vm_prep_clear(prep);
      return -1;
    }
    prep->cbitpos = c->cbitpos ? c->cbitpos : hp->cbitpos;
    prep->reduced_phys_bits = c->reduced_phys_bits ? c->reduced_phys_bits : hp->reduced_phys_bits;
  }
  if (c->id_block[0] && (read_b64_file("id_block", c->id_block, 96, &prep->id_block_b64, err) < 0 ||
                         read_b64_file("id_auth", c->id_auth, 4096, &prep->id_auth_b64, err) < 0)) {
    veil_vm_prep_clear(prep);
    return -1;
  }
  return 0;
}

/* The run dir holds unix sockets (QMP, the agent channel) whose paths must fit sun_path's 108
 * bytes; a CRI sandbox id alone is 64 characters. Short ids are used as they are; a longer one
 * keeps its first 16 characters (for people reading `ls`) and gets 16 hex digits of its SHA-256
 * so two ids with the same prefix still get different dirs. */
void veil_vm_run_dir_name(const char *id, char out[VEIL_VM_RUN_DIR_NAME_MAX + 1])
{
  size_t len = strlen(id);
  if (len <= VEIL_VM_RUN_DIR_NAME_MAX) {
    memcpy(out, id, len + 1);
    return;
  }
  char hex[2 * VEIL_SHA256_LEN + 1];
  veil_sha256_hex(id, len, hex);
  snprintf(out, VEIL_VM_RUN_DIR_NAME_MAX + 1, "%.16s-%.16s", id, hex);
}

int veil_vm_make_run_dir(const struct veil_vm_spec *spec, char **out, veil_error_t *err)
{
  const char *base = spec->config->run_dir;
  if (veil_mkdir_p(base, 0711, err) < 0)
    return veil_error_wrap(err, "run dir base (config key run_dir)");
  cleanup_free char *dir = NULL;
  char name[VEIL_VM_RUN_DIR_NAME_MAX + 1];
  veil_vm_run_dir_name(spec->id, name);
  if (asprintf(&dir, "%s/%s", base, name) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (mkdir(dir, 0700) < 0)
    return veil_error_errno(err, "create run dir `%s`%s", dir,
                            errno == EEXIST ? " (is a VM with this id running?)" : "");
  *out = steal_pointer(&dir);
  return 0;
}

int veil_vm_channel_start(struct veil_vm *vm, const struct veil_config *c,
                          const struct veil_channel_host *host, const char *user, veil_error_t *err)
{
  if (veil_agent_channel_select(c, host, vm->run_dir, &vm->channel, err) < 0)
    return -1;
  if (vm->channel.kind != VEIL_CHANNEL_HYBRID_VSOCK)
    return 0;
  if (veil_vsock_helper_start(&vm->helper, &vm->channel, vm->run_dir, user, c->hardening, err) < 0) {
    veil_agent_channel_clear(&vm->channel);
    return -1;
  }
  return 0;
}

void veil_vm_channel_stop(struct veil_vm *vm)
{
  veil_vsock_helper_stop(&vm->helper, &vm->channel);
}

/* One fd for the shim to poll: readable when QEMU or the channel helper exits. */
static int make_exit_fd(struct veil_vm *vm, veil_error_t *err)
{
  if (!veil_vsock_helper_running(&vm->helper))
    return 0;
  cleanup_close int ep = epoll_create1(EPOLL_CLOEXEC);
  struct epoll_event qemu = { .events = EPOLLIN, .data.fd = vm->pidfd };
  struct epoll_event helper = { .events = EPOLLIN, .data.fd = vm->helper.pidfd };
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, vm->pidfd, &qemu) < 0 ||
      epoll_ctl(ep, EPOLL_CTL_ADD, vm->helper.pidfd, &helper) < 0)
    return veil_error_errno(err, "watch the VM and its vsock helper (epoll)");
  vm->exit_fd = steal_fd(&ep);
  return 0;
}

/* After a start: what a cleanup after a shim crash needs, next to the helper's pid file. */
static int record_pids(struct veil_vm *vm, veil_error_t *err)
{
  cleanup_free char *path = NULL;
  if (asprintf(&path, "%s/" VEIL_VM_QEMU_PID, vm->run_dir) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  return veil_pidfile_write(path, vm->pid, err);
}

static int check_spec(const struct veil_vm_spec *spec, veil_error_t *err)
{
  if (spec == NULL || spec->config == NULL)
    return veil_error_make(err, EINVAL, "VM spec without a config");
  if (veil_id_check("VM id", spec->id, err) < 0)
    return -1;
  if (spec->initdata_digest_len > 64)
    return veil_error_make(err, EINVAL, "initdata digest of %zu bytes (at most 64)", spec->initdata_digest_len);
  return 0;
}

int veil_vm_start(const struct veil_vm_spec *spec, struct veil_vm **out, veil_error_t *err)
{
  if (check_spec(spec, err) < 0)
    return -1;
  struct veil_vm *vm = calloc(1, sizeof(*vm));
  if (vm == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  vm->pid = -1;
  vm->pidfd = -1;
  vm->exit_fd = -1;
  vm->channel.vhost_fd = -1;
  veil_vsock_helper_init(&vm->helper);
  int r = strcmp(spec->config->backend, "libvirt") == 0 ? veil_vm_libvirt_start(spec, vm, err)
                                                          : veil_vm_qemu_start(spec, vm, err);
  if (r < 0) {
    /* the backend cleaned up what it launched (the helper too); the run dir is ours */
    veil_vm_channel_stop(vm);
    free(vm->id);
    free(vm->run_dir);
    veil_agent_channel_clear(&vm->channel);
    free(vm);
    return veil_error_wrap(err, "start VM %s", spec->id);
  }
  if (make_exit_fd(vm, err) < 0 || record_pids(vm, err) < 0) {
    veil_vm_free(vm);
    return veil_error_wrap(err, "start VM %s", spec->id);
  }
  *out = vm;
  return 0;
}

pid_t veil_vm_pid(const struct veil_vm *vm)
{
  return vm->pid;
}

const char *veil_vm_agent_address(const struct veil_vm *vm)
{
  return vm->channel.address;
}

const char *veil_vm_run_dir(const struct veil_vm *vm)
{
  return vm->run_dir;
}

int veil_vm_exit_fd(const struct veil_vm *vm)
{
  return vm->exit_fd >= 0 ? vm->exit_fd : vm->pidfd;
}

/* Without its helper the VM's agent channel is gone for good (QEMU's vhost-user device does
 * not reconnect): kill the VM, so that the loss shows as the VMM's exit. */
static void kill_if_channel_lost(struct veil_vm *vm)
{
  int st;
  if (vm->reaped || !veil_vsock_helper_running(&vm->helper) || !veil_vsock_helper_exited(&vm->helper, &st))
    return;
  cleanup_free char *tail = veil_vsock_helper_log_tail(&vm->helper);
  log_error("vm=%s: vhost-device-vsock (pid %d) exited (%s %d%s%s): the agent channel is gone, "
            "killing the VM", vm->id, (int)vm->helper.pid, WIFSIGNALED(st) ? "signal" : "status",
            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), tail && tail[0] ? "; log: " : "",
            tail ? tail : "");
  snprintf(vm->exit_reason, sizeof(vm->exit_reason), "%s", VEIL_VM_EXIT_CHANNEL_LOST);
  vm->backend->kill(vm);
}

bool veil_vm_exited(struct veil_vm *vm, int *status)
{
  kill_if_channel_lost(vm);
  if (!vm->reaped && !vm->backend->exited(vm, &vm->status))
    return false;
  vm->reaped = true;
  if (status)
    *status = vm->status;
  return true;
}

const char *veil_vm_exit_reason(struct veil_vm *vm)
{
  if (!veil_vm_exited(vm, NULL))
    return "";
  return vm->exit_reason;
}

int veil_vm_stop(struct veil_vm *vm, int timeout_ms, veil_error_t *err)
{
  int r = vm->reaped ? 0 : vm->backend->stop(vm, timeout_ms, err);
  veil_vm_channel_stop(vm);  /* QEMU is gone: its helper goes too */
  return r;
}

void veil_vm_kill(struct veil_vm *vm)
{
  if (!vm->reaped)
    vm->backend->kill(vm);
  veil_vm_channel_stop(vm);
}

void veil_vm_free(struct veil_vm *vm)
{
  if (vm == NULL)
    return;
  veil_vm_kill(vm);
  vm->backend->release(vm);
  veil_cleanup_closep(&vm->exit_fd);
  veil_cleanup_closep(&vm->pidfd);
  veil_agent_channel_clear(&vm->channel);
  cleanup_error veil_error_t e = NULL;
  if (vm->run_dir && veil_remove_tree(vm->run_dir, &e) < 0)
    veil_log_error(VEIL_LOG_WARN, e, "remove run dir of VM %s", vm->id);
  free(vm->run_dir);
  free(vm->id);
  free(vm);
}
