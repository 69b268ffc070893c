/* libvirt backend: the domain XML of libvirt_xml.c started as a transient domain that libvirt
 * destroys when our connection closes (VIR_DOMAIN_START_AUTODESTROY), so a dying shim cannot
 * leak a VM (a hybrid-vsock helper is our child: it goes with the VM, see vm.c). The QEMU pid
 * comes from /proc (its -name guest=veil-<id>); exit is observed through a pidfd on it. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "hypervisor/libvirt_dl.h"
#include "hypervisor/libvirt_xml.h"
#include "hypervisor/qemu_launch.h"
#include "hypervisor/vm_internal.h"

#define QUIT_GRACE_MS 5000
#define LIBVIRT_QEMU_USER "libvirt-qemu" /* Debian's dynamic_ownership user */

struct lv_state {
  virConnectPtr conn;
  virDomainPtr dom;
};

/* Set by veil_vm_libvirt_start before any other function here can run. */
static const struct veil_libvirt_api *LV;

static void quiet_errors(void *user, virErrorPtr e)
{
  (void)user;
  (void)e;  /* reported through veil_error_t instead of libvirt's stderr default */
}

static const char *lv_msg(void)
{
  const char *m = LV->virGetLastErrorMessage();
  return m ? m : "unknown libvirt error";
}

static int lv_error(veil_error_t *err, const char *what)
{
  return veil_error_make(err, EIO, "libvirt %s: %s", what, lv_msg());
}

/* The QEMU process whose argv holds "guest=<name>,..." after -name. */
static pid_t find_qemu_pid(const char *name)
{
  cleanup_dir DIR *d = opendir("/proc");
  struct dirent *de;
  char want[300];
  snprintf(want, sizeof(want), "guest=%s,", name);
  while (d && (de = readdir(d))) {
    if (!isdigit((unsigned char)de->d_name[0]))
      continue;
    char path[300];
    snprintf(path, sizeof(path), "/proc/%s/cmdline", de->d_name);
    cleanup_free char *cmd = NULL;
    size_t len = 0;
    cleanup_error veil_error_t e = NULL;
    if (veil_read_file(path, 1 << 20, &cmd, &len, &e) < 0)
      continue;
    bool after_name = false;
    for (size_t off = 0; off < len; off += strlen(cmd + off) + 1) {
      if (after_name && strncmp(cmd + off, want, strlen(want)) == 0)
        return (pid_t)atoi(de->d_name);
      after_name = strcmp(cmd + off, "-name") == 0;
    }
  }
  return -1;
}

static bool lv_exited(struct veil_vm *vm, int *status)
{
  if (vm->pidfd >= 0 && !veil_pidfd_wait(vm->pidfd, 0))
    return false;
  *status = 0;  /* not our child: libvirt reaps it */
  if (vm->exit_reason[0] == '\0') {
    struct lv_state *s = vm->priv;
    int state = 0, reason = 0;
    const char *why = "exited";
    if (s && s->dom && LV->virDomainGetState(s->dom, &state, &reason, 0) == 0 && state == VIR_DOMAIN_SHUTOFF)
      why = reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN ? "guest-shutdown"
          : reason == VIR_DOMAIN_SHUTOFF_CRASHED ? "guest-panicked"
          : reason == VIR_DOMAIN_SHUTOFF_DESTROYED ? "killed" : "exited";
    snprintf(vm->exit_reason, sizeof(vm->exit_reason), "%s", why);
  }
  return true;
}

static void lv_kill(struct veil_vm *vm)
{
  struct lv_state *s = vm->priv;
  if (vm->reaped)
    return;
  if (vm->exit_reason[0] == '\0')
    snprintf(vm->exit_reason, sizeof(vm->exit_reason), "killed");
  if (s && s->dom)
    LV->virDomainDestroy(s->dom);
  if (vm->pidfd >= 0)
    veil_pidfd_wait(vm->pidfd, QUIT_GRACE_MS);
  vm->reaped = true;
}

static int lv_stop(struct veil_vm *vm, int timeout_ms, veil_error_t *err)
{
  (void)err;
  struct lv_state *s = vm->priv;
  if (s->dom && LV->virDomainShutdownFlags(s->dom, VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN) < 0)
    log_debug("vm=%s libvirt shutdown: %s", vm->id, lv_msg());
  if (vm->pidfd >= 0 && veil_pidfd_wait(vm->pidfd, timeout_ms)) {
    lv_exited(vm, &vm->status);
    vm->reaped = true;
    return 0;
  }
  snprintf(vm->exit_reason, sizeof(vm->exit_reason), "quit");
  if (s->dom && LV->virDomainDestroyFlags(s->dom, VIR_DOMAIN_DESTROY_GRACEFUL) < 0)
    log_debug("vm=%s libvirt graceful destroy: %s", vm->id, lv_msg());
  if (vm->pidfd >= 0 && veil_pidfd_wait(vm->pidfd, QUIT_GRACE_MS)) {
    vm->reaped = true;
    return 0;
  }
  vm->exit_reason[0] = '\0';
  lv_kill(vm);
  return 0;
}

static void lv_release(struct veil_vm *vm)
{
  struct lv_state *s = vm->priv;
  if (s == NULL)
    return;
  if (s->dom)
    LV->virDomainFree(s->dom);
  if (s->conn)
    LV->virConnectClose(s->conn);  /* AUTODESTROY: a still-running domain goes with it */
  free(s);
  vm->priv = NULL;
}

static const struct veil_vm_backend libvirt_backend = {
  .stop = lv_stop,
  .kill = lv_kill,
  .exited = lv_exited,
  .release = lv_release,
};

/* libvirt picks the CID (<cid auto='yes'/>): read it back from the live XML. */
static int read_cid(virDomainPtr dom, unsigned *cid, veil_error_t *err)
{
  cleanup_free char *xml = LV->virDomainGetXMLDesc(dom, 0);
  const char *p = xml ? strstr(xml, "<cid auto='yes' address='") : NULL;
  if (p == NULL || sscanf(p, "<cid auto='yes' address='%u'", cid) != 1)
    return veil_error_make(err, EIO, "libvirt did not report the guest CID of the vsock device");
  return 0;
}

/* QEMU runs as qemu_user, else as libvirt's own unprivileged user: as root, libvirt would
 * leave it every capability. The run dir (0700) is handed to that user; *label is the DAC
 * label for the XML and *owner the user (both NULL: no such user, stay root). */
static int hand_run_dir_to_qemu_user(const struct veil_config *c, const char *run_dir, char **label,
                                     const char **owner, veil_error_t *err)
{
  const char *user = c->qemu_user[0] ? c->qemu_user : LIBVIRT_QEMU_USER;
  *owner = NULL;
  uid_t uid;
  gid_t gid;
  cleanup_error veil_error_t lookup_err = NULL;
  if (veil_lookup_user(user, &uid, &gid, &lookup_err) < 0) {
    if (c->qemu_user[0]) {
      *err = steal_pointer(&lookup_err);
      return -1;
    }
    return 0;
  }
  if (chown(run_dir, uid, gid) < 0)
    return veil_error_errno(err, "chown run dir `%s` to %s", run_dir, user);
  if (asprintf(label, "+%u:+%u", (unsigned)uid, (unsigned)gid) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  *owner = user;
  return 0;
}

int veil_vm_libvirt_start(const struct veil_vm_spec *spec, struct veil_vm *vm, veil_error_t *err)
{
  const struct veil_config *c = spec->config;
  if ((LV = veil_libvirt_api(err)) == NULL)
    return -1;
  struct veil_vm_prep prep;
  if (veil_vm_prepare(spec, &prep, err) < 0)
    return -1;
  LV->virSetErrorFunc(NULL, quiet_errors);
  vm->backend = &libvirt_backend;
  struct lv_state *s = calloc(1, sizeof(*s));
  vm->priv = s;
  int r = -1;
  cleanup_free char *xml = NULL, *label = NULL, *name = NULL;
  if (s == NULL || (vm->id = strdup(spec->id)) == NULL || asprintf(&name, "veil-%s", spec->id) < 0) {
    veil_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  if (veil_vm_make_run_dir(spec, &vm->run_dir, err) < 0)
    goto out;
  const char *owner = NULL;
  if (hand_run_dir_to_qemu_user(c, vm->run_dir, &label, &owner, err) < 0)
    goto fail;
  /* the vsock helper runs as QEMU does, so QEMU may connect to its 0600 socket */
  struct veil_channel_host host = { .root = "/", .reserve_cid = false };
  if (veil_vm_channel_start(vm, c, &host, owner, err) < 0)
    goto fail;
  struct veil_qemu_plan plan = {
    .spec = spec, .run_dir = vm->run_dir, .firmware = prep.firmware, .fw_mapping = prep.fw_mapping,
    .cbitpos = prep.cbitpos, .reduced_phys_bits = prep.reduced_phys_bits, .channel = &vm->channel,
    .id_block_b64 = prep.id_block_b64, .id_auth_b64 = prep.id_auth_b64, .dac_label = label,
  };
  if (veil_libvirt_domain_xml(&plan, &xml, err) < 0)
    goto fail;
  if ((s->conn = LV->virConnectOpen(c->libvirt_uri)) == NULL) {
    lv_error(err, "connect");
    veil_error_wrap(err, "libvirt_uri `%s`", c->libvirt_uri);
    goto fail;
  }
  if ((s->dom = LV->virDomainCreateXML(s->conn, xml, VIR_DOMAIN_START_AUTODESTROY)) == NULL) {
    lv_error(err, "create domain");
    goto fail;
  }
  if ((vm->pid = find_qemu_pid(name)) <= 0 || (vm->pidfd = veil_pidfd_open(vm->pid)) < 0) {
    veil_error_make(err, ESRCH, "libvirt started domain %s but its QEMU process was not found", name);
    goto fail;
  }
  unsigned cid;
  if (vm->channel.kind == VEIL_CHANNEL_VHOST_VSOCK &&
      (read_cid(s->dom, &cid, err) < 0 || veil_agent_channel_set_cid(&vm->channel, cid, err) < 0))
    goto fail;
  r = 0;
  goto out;
fail:
  lv_kill(vm);
  veil_vm_channel_stop(vm);
  veil_cleanup_closep(&vm->pidfd);
  if (vm->run_dir) {
    cleanup_error veil_error_t e = NULL;
    if (veil_remove_tree(vm->run_dir, &e) < 0)
      veil_log_error(VEIL_LOG_WARN, e, "remove run dir");
  }
out:
  if (r < 0)
    lv_release(vm);
  veil_vm_prep_clear(&prep);
  return r;
}
