/* The QEMU command line: a pure function of the VM spec, the runtime config and what was
 * resolved beforehand (firmware, CPUID bits, agent channel, SNP ID block). Golden-tested
 * (tests/golden/qemu-*.args). */
#ifndef VEIL_HYPERVISOR_QEMU_ARGV_H
#define VEIL_HYPERVISOR_QEMU_ARGV_H

#include <stdbool.h>

#include "common/error.h"
#include "hypervisor/agent_channel.h"
#include "hypervisor/firmware.h"
#include "hypervisor/vm.h"

/* The child gets the vhost-vsock fd at this number (vhostfd=3 in argv). */
#define VEIL_QEMU_VHOST_FD 3
/* NIC i: its tap at fd VEIL_QEMU_NIC_FD(i), its /dev/vhost-net (if any) at the next number. */
#define VEIL_QEMU_NIC_FD(i) (16 + 2 * (int)(i))

struct veil_qemu_plan {
  const struct veil_vm_spec *spec;     /* spec->config is the runtime config */
  const char *run_dir;
  const char *firmware;                /* NULL/"" = none (dev: SeaBIOS) */
  enum veil_fw_mapping fw_mapping;
  unsigned cbitpos, reduced_phys_bits; /* SEV*: resolved (config or CPUID) */
  const struct veil_agent_channel *channel;
  const char *id_block_b64, *id_auth_b64; /* SNP: read from the config's files */
  bool sandbox;                        /* -sandbox (hardening and QEMU has seccomp) */
  const char *dac_label;               /* libvirt: "+uid:+gid" QEMU runs as; NULL = "+0:+0" */
  bool vhost_net;                      /* NICs get vhost=on,vhostfd=VEIL_QEMU_NIC_FD(i)+1 */
};

/* A NIC's spec is usable by the QEMU argv / libvirt XML: a well-formed MAC, a sane MTU. */
int veil_vm_check_nics(const struct veil_vm_spec *spec, veil_error_t *err);

int veil_qemu_build_argv(const struct veil_qemu_plan *plan, char ***argv, veil_error_t *err);
/* The kernel command line: config kernel_params + spec extra params. malloc'd. */
char *veil_vm_cmdline(const struct veil_vm_spec *spec);
/* The spec's initdata digest as its TEE binds it (SNP host-data, TDX mrconfigid: the rule of
 * common/initdata.h), base64 for QEMU and libvirt; *b64 = NULL without a digest or a TEE.
 * ENOTSUP for a digest on SEV, SEV-ES or SE. */
int veil_vm_initdata_binding(const struct veil_vm_spec *spec, char **b64, veil_error_t *err);

#endif
