/* Shared between vm.c and the backends (vm_qemu.c, vm_libvirt.c). */
#ifndef VEIL_HYPERVISOR_VM_INTERNAL_H
#define VEIL_HYPERVISOR_VM_INTERNAL_H

#include <stdbool.h>

#include "hypervisor/agent_channel.h"
#include "hypervisor/firmware.h"
#include "hypervisor/vm.h"
#include "hypervisor/vsock_helper.h"

/* Everything resolved before a backend launches: checked against the QEMU binary and the
 * host, so the argv/XML builders stay pure. */
struct veil_vm_prep {
  char *firmware;                 /* NULL = none */
  enum veil_fw_mapping fw_mapping;
  unsigned cbitpos, reduced_phys_bits;
  char *id_block_b64, *id_auth_b64;
  bool sandbox;
};

struct veil_vm_backend {
  int (*stop)(struct veil_vm *vm, int timeout_ms, veil_error_t *err);
  void (*kill)(struct veil_vm *vm);
  bool (*exited)(struct veil_vm *vm, int *status);
  void (*release)(struct veil_vm *vm); /* after kill: free backend state */
};

struct veil_vm {
  const struct veil_vm_backend *backend;
  char *id;
  char *run_dir;
  pid_t pid;
  int pidfd;              /* pidfd of the QEMU process */
  int exit_fd;            /* epoll over pidfd + the helper's pidfd (hybrid vsock), else -1 */
  bool reaped;
  int status;             /* wait status once reaped */
  char exit_reason[64];
  struct veil_agent_channel channel;
  struct veil_vsock_helper helper; /* hybrid vsock: vhost-device-vsock */
  struct veil_qmp *qmp;   /* QEMU backend */
  void *priv;             /* libvirt backend */
};

int veil_vm_prepare(const struct veil_vm_spec *spec, struct veil_vm_prep *prep, veil_error_t *err);
void veil_vm_prep_clear(struct veil_vm_prep *prep);
/* Create <run_dir>/<id> (0700; parent created 0711 if missing). */
/* The name of a VM's dir under the run dir base: the id, or a fixed-length digest form of a
 * long one (unix socket paths inside must stay short). */
#define VEIL_VM_RUN_DIR_NAME_MAX 33
void veil_vm_run_dir_name(const char *id, char out[VEIL_VM_RUN_DIR_NAME_MAX + 1]);
int veil_vm_make_run_dir(const struct veil_vm_spec *spec, char **out, veil_error_t *err);
/* Select the channel and, for hybrid vsock, start its helper as `user` (the user QEMU runs
 * as, so QEMU may connect to its socket). Undone by veil_vm_channel_stop. */
int veil_vm_channel_start(struct veil_vm *vm, const struct veil_config *c,
                          const struct veil_channel_host *host, const char *user, veil_error_t *err);
void veil_vm_channel_stop(struct veil_vm *vm);

int veil_vm_qemu_start(const struct veil_vm_spec *spec, struct veil_vm *vm, veil_error_t *err);
int veil_vm_libvirt_start(const struct veil_vm_spec *spec, struct veil_vm *vm, veil_error_t *err);

#endif
