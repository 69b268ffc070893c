#include "hypervisor/host_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "common/cleanup.h"
#include "hypervisor/argvec.h"
#include "hypervisor/firmware.h"
#include "hypervisor/qemu_caps.h"

void veil_host_probe_free(struct veil_host_probe *p)
{
  if (p == NULL)
    return;
  free(p->kvm_why);
  free(p->vhost_vsock_why);
  free(p->qemu_x86_version);
  free(p->qemu_s390x_version);
  for (int i = 0; i < VEIL_TEE_COUNT; i++) {
    free(p->tee[i].why);
    free(p->tee[i].todo);
    free(p->tee[i].firmware);
  }
  free(p);
}

static char *under(const char *root, const char *path)
{
  char *s = NULL;
  if (asprintf(&s, "%s%s", strcmp(root, "/") == 0 ? "" : root, path) < 0)
    return NULL;
  return s;
}

/* A module parameter / sysfs flag: "Y", "y", "1" mean on. Missing file = off. */
static bool read_flag(const char *root, const char *path)
{
  cleanup_free char *p = under(root, path);
  if (p == NULL)
    return false;
  cleanup_file FILE *f = fopen(p, "re");
  char buf[16] = "";
  if (f == NULL || fgets(buf, sizeof(buf), f) == NULL)
    return false;
  return buf[0] == 'Y' || buf[0] == 'y' || buf[0] == '1';
}

static bool path_exists(const char *root, const char *path)
{
  cleanup_free char *p = under(root, path);
  return p && access(p, F_OK) == 0;
}

static void probe_kvm(const char *root, struct veil_host_probe *p)
{
  cleanup_free char *dev = under(root, "/dev/kvm");
  cleanup_close int fd = dev ? open(dev, O_RDWR | O_CLOEXEC) : -1;
  if (fd < 0) {
    if (asprintf(&p->kvm_why, "cannot open /dev/kvm: %s", strerror(errno)) < 0)
      p->kvm_why = NULL;
    return;
  }
  /* a regular file in a fake tree: existence is all we can check */
  int api = ioctl(fd, KVM_GET_API_VERSION, 0);
  if (api < 0 && errno == ENOTTY) {
    p->kvm = true;
  } else if (api != KVM_API_VERSION) {
    if (asprintf(&p->kvm_why, "/dev/kvm reports API version %d, not %d", api, KVM_API_VERSION) < 0)
      p->kvm_why = NULL;
    return;
  } else {
    p->kvm = true;
  }
  if (path_exists(root, "/sys/module/kvm_pvm")) {
    /* kvm_pvm (a nested-virtualisation KVM) runs only PVM-enabled guest kernels */
    p->kvm = false;
    p->kvm_why = strdup("the host KVM is kvm_pvm, which cannot run ordinary guest kernels "
                        "(use accel tcg)");
  }
}

static void probe_vhost_vsock(const char *root, struct veil_host_probe *p)
{
  cleanup_free char *dev = under(root, "/dev/vhost-vsock");
  cleanup_close int fd = dev ? open(dev, O_RDWR | O_CLOEXEC) : -1;
  if (fd >= 0) {
    p->vhost_vsock = true;
    return;
  }
  if (asprintf(&p->vhost_vsock_why, "cannot open /dev/vhost-vsock: %s (load vhost_vsock)",
               strerror(errno)) < 0)
    p->vhost_vsock_why = NULL;
}

static void probe_cpuid(const struct veil_probe_opts *o, struct veil_host_probe *p)
{
  uint32_t eax = 0, ebx = 0;
  if (o->cpuid_sev) {
    eax = o->cpuid_sev[0];
    ebx = o->cpuid_sev[1];
  } else {
#if defined(__x86_64__) || defined(__i386__)
    unsigned a, b, c, d;
    if ((unsigned)__get_cpuid_max(0x80000000, NULL) >= 0x8000001fu && __get_cpuid(0x8000001f, &a, &b, &c, &d)) {
      eax = a;
      ebx = b;
    }
#endif
  }
  p->cpuid_sev = eax & (1u << 1);
  p->cpuid_sev_es = eax & (1u << 3);
  p->cpuid_snp = eax & (1u << 4);
  p->cbitpos = ebx & 0x3f;
  p->reduced_phys_bits = (ebx >> 6) & 0x3f;
}

struct checks {
  struct veil_argvec why;
  char *todo;
};

static void fail(struct checks *c, const char *why, const char *todo)
{
  veil_argvec_push(&c->why, why);
  if (c->todo == NULL)
    c->todo = strdup(todo);
}

static void finish(struct checks *c, struct veil_tee_status *s)
{
  s->usable = c->why.n == 0 && !c->why.failed;
  s->why = c->why.v ? veil_strv_join(c->why.v, "; ") : strdup("");
  s->todo = c->todo ? c->todo : strdup("");
  veil_argvec_clear(&c->why);
}

static void check_qemu(struct checks *c, const char *qemu, enum veil_profile prof)
{
  const char *need = NULL;
  const char *type = veil_profile_qemu_object(prof, &need);
  const struct veil_qemu_caps *caps = NULL;
  cleanup_error veil_error_t e = NULL;
  char buf[512];
  if (qemu == NULL)
    return;
  if (veil_qemu_caps_get(qemu, &caps, &e) < 0) {
    snprintf(buf, sizeof(buf), "no usable QEMU: %s", e->msg);
    fail(c, buf, "install QEMU and set qemu_path");
    return;
  }
  if (!veil_qemu_caps_has_object(caps, type)) {
    char todo[64];
    snprintf(buf, sizeof(buf), "QEMU %u.%u.%u lacks the %s object (needs QEMU >= %s)", caps->major,
             caps->minor, caps->micro, type, need);
    snprintf(todo, sizeof(todo), "install QEMU >= %s", need);
    fail(c, buf, todo);
  }
}

static void check_firmware(struct checks *c, const struct veil_probe_opts *o, enum veil_tee tee,
                           struct veil_tee_status *s)
{
  if (tee == VEIL_TEE_SE)
    return;  /* the SE image carries its own loader */
  cleanup_free char *path = NULL;
  cleanup_error veil_error_t e = NULL;
  if (veil_firmware_select(o->firmware_dirs, o->root, tee, &path, NULL, &e) < 0) {
    fail(c, e->msg, "install a firmware built for this TEE (e.g. OVMF AmdSev/IntelTdx) with a "
                    "QEMU firmware descriptor, or set firmware in the runtime config");
    return;
  }
  s->firmware = steal_pointer(&path);
}

int veil_host_probe(const struct veil_probe_opts *opts, struct veil_host_probe **out, veil_error_t *err)
{
  struct veil_probe_opts o = *opts;
  if (o.root == NULL)
    o.root = "/";
  struct veil_host_probe *p = calloc(1, sizeof(*p));
  if (p == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  probe_kvm(o.root, p);
  probe_vhost_vsock(o.root, p);
  probe_cpuid(&o, p);
  p->kvm_sev = read_flag(o.root, "/sys/module/kvm_amd/parameters/sev");
  p->kvm_sev_es = read_flag(o.root, "/sys/module/kvm_amd/parameters/sev_es");
  p->kvm_snp = read_flag(o.root, "/sys/module/kvm_amd/parameters/sev_snp");
  p->kvm_tdx = read_flag(o.root, "/sys/module/kvm_intel/parameters/tdx");
  p->prot_virt_host = read_flag(o.root, "/sys/firmware/uv/prot_virt_host");
  const struct veil_qemu_caps *caps;
  cleanup_error veil_error_t e = NULL;
  if (o.qemu_x86 && veil_qemu_caps_get(o.qemu_x86, &caps, &e) == 0 &&
      asprintf(&p->qemu_x86_version, "%u.%u.%u", caps->major, caps->minor, caps->micro) < 0)
    p->qemu_x86_version = NULL;
  veil_error_release(&e);
  if (o.qemu_s390x && veil_qemu_caps_get(o.qemu_s390x, &caps, &e) == 0 &&
      asprintf(&p->qemu_s390x_version, "%u.%u.%u", caps->major, caps->minor, caps->micro) < 0)
    p->qemu_s390x_version = NULL;

  for (int t = 0; t < VEIL_TEE_COUNT; t++) {
    struct checks c = { 0 };
    enum veil_profile prof = t == VEIL_TEE_SEV ? VEIL_PROFILE_SEV : t == VEIL_TEE_SEV_ES ? VEIL_PROFILE_SEV_ES
                           : t == VEIL_TEE_SNP ? VEIL_PROFILE_SNP : t == VEIL_TEE_TDX ? VEIL_PROFILE_TDX
                           : VEIL_PROFILE_SE;
    if (!p->kvm)
      fail(&c, p->kvm_why ? p->kvm_why : "KVM unusable", "run on a host with KVM (kvm_amd/kvm_intel/kvm on s390x)");
    switch ((enum veil_tee)t) {
    case VEIL_TEE_SEV:
    case VEIL_TEE_SEV_ES:
    case VEIL_TEE_SNP: {
      bool cpu = t == VEIL_TEE_SEV ? p->cpuid_sev : t == VEIL_TEE_SEV_ES ? p->cpuid_sev_es : p->cpuid_snp;
      const char *param = t == VEIL_TEE_SEV ? "sev" : t == VEIL_TEE_SEV_ES ? "sev_es" : "sev_snp";
      bool kvm = t == VEIL_TEE_SEV ? p->kvm_sev : t == VEIL_TEE_SEV_ES ? p->kvm_sev_es : p->kvm_snp;
      char why[256], todo[256];
      if (!cpu) {
        snprintf(why, sizeof(why), "the CPU does not report %s (CPUID 0x8000001F EAX bit %d)",
                 t == VEIL_TEE_SEV ? "SEV" : t == VEIL_TEE_SEV_ES ? "SEV-ES" : "SEV-SNP",
                 t == VEIL_TEE_SEV ? 1 : t == VEIL_TEE_SEV_ES ? 3 : 4);
        fail(&c, why, "run on an AMD EPYC host with the feature enabled in the BIOS");
      }
      if (!kvm) {
        snprintf(why, sizeof(why), "/sys/module/kvm_amd/parameters/%s is not Y", param);
        snprintf(todo, sizeof(todo), "load kvm_amd with %s=1 (host kernel%s)", param,
                 t == VEIL_TEE_SNP ? " >= 6.11" : "");
        fail(&c, why, todo);
      }
      break;
    }
    case VEIL_TEE_TDX:
      if (!p->kvm_tdx)
        fail(&c, "/sys/module/kvm_intel/parameters/tdx is not Y",
             "use an Intel TDX host (kernel >= 6.16, TDX module loaded) with kvm_intel tdx=1");
      break;
    case VEIL_TEE_SE:
      if (!p->prot_virt_host)
        fail(&c, "/sys/firmware/uv/prot_virt_host is not 1 (not an IBM Z host with Secure Execution)",
             "use an IBM z15/LinuxONE III or newer with prot_virt=1 on the kernel command line");
      break;
    case VEIL_TEE_COUNT:
      break;
    }
    check_qemu(&c, t == VEIL_TEE_SE ? o.qemu_s390x : o.qemu_x86, prof);
    check_firmware(&c, &o, (enum veil_tee)t, &p->tee[t]);
    finish(&c, &p->tee[t]);
    if (p->tee[t].why == NULL || p->tee[t].todo == NULL) {
      veil_host_probe_free(p);
      return veil_error_make(err, ENOMEM, "out of memory");
    }
  }
  *out = p;
  return 0;
}

int veil_host_check_profile(const struct veil_host_probe *p, enum veil_profile profile, veil_error_t *err)
{
  enum veil_tee t;
  if (!veil_profile_tee(profile, &t))
    return 0;
  bool kvm_ok = p->kvm;
  bool tee_ok = t == VEIL_TEE_SEV ? p->kvm_sev && p->cpuid_sev
              : t == VEIL_TEE_SEV_ES ? p->kvm_sev_es && p->cpuid_sev_es
              : t == VEIL_TEE_SNP ? p->kvm_snp && p->cpuid_snp
              : t == VEIL_TEE_TDX ? p->kvm_tdx : p->prot_virt_host;
  if (kvm_ok && tee_ok)
    return 0;
  return veil_error_make(err, ENODEV, "profile %s: this host cannot run %s guests: %s. To fix: %s",
                         veil_profile_name(profile), veil_tee_name(t), p->tee[t].why, p->tee[t].todo);
}
