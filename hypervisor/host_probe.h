/* Host probe: KVM, /dev/vhost-vsock, and for each TEE whether this host can run it, why not,
 * and what to do. The filesystem root and CPUID are injectable so that TEE hosts can be
 * faked in tests (fake sysfs trees). */
#ifndef VEIL_HYPERVISOR_HOST_PROBE_H
#define VEIL_HYPERVISOR_HOST_PROBE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "hypervisor/config.h"

struct veil_probe_opts {
  const char *root;             /* "/" or a fake tree with dev/, sys/, proc/ */
  const uint32_t *cpuid_sev;    /* NULL = execute CPUID 0x8000001F; else {eax, ebx} */
  const char *const *firmware_dirs; /* NULL = the standard descriptor dirs under root */
  const char *qemu_x86;         /* QEMU binaries to probe; NULL = skip that check */
  const char *qemu_s390x;
};

struct veil_tee_status {
  bool usable;
  char *why;     /* why not usable ("" when usable): every failed check, "; "-joined */
  char *todo;    /* what to do, for the first failed check */
  char *firmware;/* selected firmware path, when found */
};

struct veil_host_probe {
  bool kvm;                 /* /dev/kvm opens and reports API version 12 */
  char *kvm_why;
  bool vhost_vsock;         /* /dev/vhost-vsock exists and opens */
  char *vhost_vsock_why;
  bool cpuid_sev, cpuid_sev_es, cpuid_snp; /* CPUID 0x8000001F EAX bits 1, 3, 4 */
  unsigned cbitpos, reduced_phys_bits;     /* CPUID 0x8000001F EBX[5:0], EBX[11:6] */
  bool kvm_sev, kvm_sev_es, kvm_snp, kvm_tdx, prot_virt_host; /* module parameters / uv */
  char *qemu_x86_version, *qemu_s390x_version; /* "7.2.22" or NULL when absent */
  struct veil_tee_status tee[VEIL_TEE_COUNT];
};

int veil_host_probe(const struct veil_probe_opts *opts, struct veil_host_probe **out, veil_error_t *err);
void veil_host_probe_free(struct veil_host_probe *p);
/* Does the host (hardware + kernel) offer what profile p needs? The error says why and what
 * to do. QEMU and firmware are checked separately by the VM start path. */
int veil_host_check_profile(const struct veil_host_probe *p, enum veil_profile profile, veil_error_t *err);

#endif
