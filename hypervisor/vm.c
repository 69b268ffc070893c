/* The public VM interface: argument checks, preparation shared by both backends (QEMU
 * capabilities, firmware, host TEE, SNP ID block), run dir, and dispatch. */
#include "hypervisor/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/id.h"
#include "common/log.h"
#include "hypervisor/host_probe.h"
#include "hypervisor/qemu_argv.h"
#include "hypervisor/qemu_caps.h"
#include "hypervisor/qmp.h"
#include "hypervisor/vm_internal.h"

VEIL_DEFINE_CLEANUP(struct veil_host_probe, veil_host_probe_free)

int veil_pidfd_open(pid_t pid)
{
  return (int)syscall(SYS_pidfd_open, pid, 0);
}

bool veil_pidfd_wait(int pidfd, int timeout_ms)
{
  struct pollfd p = { .fd = pidfd, .events = POLLIN };
  int r;
  while ((r = poll(&p, 1, timeout_ms)) < 0 && errno == EINTR)
    ;
  return r > 0;
}

char *veil_file_tail(const char *path, size_t max)
{
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
  char *buf = calloc(1, max + 1);
  if (buf == NULL)
    return NULL;
  if (fd < 0)
    return buf;
  off_t size = lseek(fd, 0, SEEK_END);
  off_t from = size > (off_t)max ? size - (off_t)max : 0;
  ssize_t n = pread(fd, buf, max, from);
  if (n < 0)
    n = 0;
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  /* start at a line boundary when truncated */
  char *start = buf;
  if (from > 0 && (start = strchr(buf, '\n')) != NULL)
    memmove(buf, start + 1, strlen(start + 1) + 1);
  for (char *p = buf; *p; p++)  /* one line in an error message */
    if (*p == '\n')
      *p = '|';
  return buf;
}

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

int veil_vm_make_run_dir(const struct veil_vm_spec *spec, char **out, veil_error_t *err)
{
  const char *base = spec->config->run_dir;
  if (veil_mkdir_p(base, 0711, err) < 0)
    return veil_error_wrap(err, "run dir base (config key run_dir)");
  cleanup_free char *dir = NULL;
  if (asprintf(&dir, "%s/%s", base, spec->id) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (mkdir(dir, 0700) < 0)
    return veil_error_errno(err, "create run dir `%s`%s", dir,
                            errno == EEXIST ? " (is a VM with this id running?)" : "");
  *out = steal_pointer(&dir);
  return 0;
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
  vm->channel.vhost_fd = -1;
  int r = strcmp(spec->config->backend, "libvirt") == 0 ? veil_vm_libvirt_start(spec, vm, err)
                                                          : veil_vm_qemu_start(spec, vm, err);
  if (r < 0) {
    /* the backend cleaned up what it launched; the run dir is ours */
    free(vm->id);
    free(vm->run_dir);
    veil_agent_channel_clear(&vm->channel);
    free(vm);
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
  return vm->pidfd;
}

bool veil_vm_exited(struct veil_vm *vm, int *status)
{
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
  if (vm->reaped)
    return 0;
  return vm->backend->stop(vm, timeout_ms, err);
}

void veil_vm_kill(struct veil_vm *vm)
{
  if (!vm->reaped)
    vm->backend->kill(vm);
}

void veil_vm_free(struct veil_vm *vm)
{
  if (vm == NULL)
    return;
  veil_vm_kill(vm);
  vm->backend->release(vm);
  veil_cleanup_closep(&vm->pidfd);
  veil_agent_channel_clear(&vm->channel);
  cleanup_error veil_error_t e = NULL;
  if (vm->run_dir && veil_remove_tree(vm->run_dir, &e) < 0)
    veil_log_error(VEIL_LOG_WARN, e, "remove run dir of VM %s", vm->id);
  free(vm->run_dir);
  free(vm->id);
  free(vm);
}
