/* The one VM interface the shim uses (hypervisor/). Backends: QEMU (direct) and libvirt.
 * A failed veil_vm_start leaves nothing behind: no process, socket, file or directory. */
#ifndef VEIL_HYPERVISOR_VM_H
#define VEIL_HYPERVISOR_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "hypervisor/config.h"

struct veil_vm_share {     /* dev profile only: a host directory shared into the guest */
  const char *tag;         /* mount tag seen by the guest, e.g. "veilshared" */
  const char *host_path;
  bool readonly;
};

struct veil_vm_disk {      /* extra block device, e.g. the initdata image */
  const char *path;
  bool readonly;
  const char *serial;      /* virtio-blk serial the guest can find it by, optional */
};

/* A virtio-net NIC on a tap in the pod netns (podnet/). The guest NIC gets the pod veth's MAC, so
 * the agent finds it by MAC (Kata's UpdateInterface). */
struct veil_vm_nic {
  int tap_fd;              /* QEMU backend: the open tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR). Not taken:
                            * QEMU gets its own copy; close yours after veil_vm_start returns */
  const char *host_tap;    /* libvirt backend: the tap libvirt creates in its netns under this
                            * name (podnet_host_tap_name); podnet_adopt moves it into the pod */
  const char *mac;         /* "aa:bb:cc:dd:ee:ff" */
  unsigned mtu;            /* the veth's MTU, the guest driver's initial one (host_mtu); 0 = none */
};
#define VEIL_VM_MAX_NICS 8

struct veil_vm_spec {
  const struct veil_config *config;  /* runtime config (profile, paths, defaults) */
  const char *id;                    /* sandbox id: names the run dir and the domain */
  unsigned vcpus;                    /* 0 = config default */
  unsigned memory_mb;                /* 0 = config default */
  const char *extra_kernel_params;   /* appended to the config's kernel_params, may be NULL */
  const struct veil_vm_share *shares;
  size_t n_shares;
  const struct veil_vm_disk *disks;
  size_t n_disks;
  const uint8_t *initdata_digest;    /* bound as SNP host-data / TDX mrconfigid; NULL = none */
  size_t initdata_digest_len;
  const struct veil_vm_nic *nics;    /* at most VEIL_VM_MAX_NICS */
  size_t n_nics;
};

struct veil_vm;

/* Create the run dir (<config run_dir>/<id>, 0700), launch the VM, wait until
 * the VMM is up (QMP negotiated / domain running). Errors name the failing step
 * and include the tail of QEMU's stderr when QEMU exited. */
int veil_vm_start(const struct veil_vm_spec *spec, struct veil_vm **out, veil_error_t *err);
/* PID of the VMM process (QEMU), for Pids/Create responses. */
pid_t veil_vm_pid(const struct veil_vm *vm);
/* The agent channel as an address (ttrpc/address.h) agent_client/ dials: "vsock://CID:1024"
 * (vhost-vsock), "hvsock://<run dir>/vsock.sock:1024" (hybrid vsock), "unix://<run dir>/agent.sock"
 * (virtio-serial). */
const char *veil_vm_agent_address(const struct veil_vm *vm);
/* The per-sandbox run directory (0700). */
const char *veil_vm_run_dir(const struct veil_vm *vm);
/* A pollable fd that becomes readable when the VMM exits, or when the hybrid-vsock helper
 * does (then veil_vm_exited kills the VM: exit reason "agent-channel-lost"); owned by vm. */
int veil_vm_exit_fd(const struct veil_vm *vm);
/* Non-blocking: true (and *status = wait status) once the VMM has exited and was reaped. */
bool veil_vm_exited(struct veil_vm *vm, int *status);
/* Graceful stop: QMP system_powerdown, wait up to timeout_ms, then quit, then SIGKILL. */
int veil_vm_stop(struct veil_vm *vm, int timeout_ms, veil_error_t *err);
/* Forceful stop (SIGKILL / virDomainDestroy) and reap. */
void veil_vm_kill(struct veil_vm *vm);
/* Kill if still running, reap, remove the run dir, free. NULL is fine. */
void veil_vm_free(struct veil_vm *vm);
/* Why the VMM exited, once it has: "guest-shutdown", "guest-panicked", "quit", "killed",
 * "agent-channel-lost" (the vsock helper died, the VM was killed), "exited" (status only);
 * "" while it runs. */
const char *veil_vm_exit_reason(struct veil_vm *vm);
/* The files in the run dir: QEMU's stderr and the guest serial console. */
#define VEIL_VM_QEMU_LOG "qemu.log"
#define VEIL_VM_CONSOLE_LOG "console.log"
/* QEMU's pid and start time (common/pidfile.h), beside the vsock helper's vhost-vsock.pid. */
#define VEIL_VM_QEMU_PID "qemu.pid"
#define VEIL_VM_EXIT_CHANNEL_LOST "agent-channel-lost"

#endif
