/* Boots the dev guest image under QEMU TCG for the guest tests and benchmarks: the same
 * devices as the dev profile (virtio-serial agent channel, 9p share `veilshared`). */
#ifndef VEIL_TESTS_GUEST_QEMU_H
#define VEIL_TESTS_GUEST_QEMU_H

#include <sys/types.h>

#include "common/error.h"

/* The kernel command line these tests recommend for configs/dev.json (docs/guest.md). */
#define GUEST_KERNEL_PARAMS                                                                  \
  "console=ttyS0 quiet panic=-1 reboot=t tsc=reliable no_timer_check noreplace-smp "        \
  "cryptomgr.notests rcupdate.rcu_expedited=1 i8042.noaux i8042.nomux i8042.nopnp "         \
  "i8042.dumbkbd"

struct guest_qemu {
  const char *kernel;        /* vmlinux (PVH ELF) or vmlinuz (bzImage) */
  const char *initrd;
  const char *agent_socket;  /* the virtio-serial chardev's unix socket (QEMU is the server) */
  const char *shared_dir;    /* host side of the 9p share */
  const char *console_path;  /* guest serial console is written here */
  const char *machine;       /* NULL = q35 */
  const char *kernel_params; /* NULL = GUEST_KERNEL_PARAMS */
  const char *extra_params;  /* appended, may be NULL */
};

/* fork+exec qemu-system-x86_64 -accel tcg; returns its pid. */
pid_t guest_qemu_start(const struct guest_qemu *q, veil_error_t *err);

#endif
