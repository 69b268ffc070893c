/* What veil-agent does as the guest's PID 1 (docs/agent.md):
 * mount proc, sys, devtmpfs, devpts, /dev/shm, /run, cgroup2; load the kernel
 * modules listed in /etc/veil/modules.order; power off. */
#ifndef VEIL_AGENT_GUEST_INIT_H
#define VEIL_AGENT_GUEST_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define AGENT_MODULES_LIST "/etc/veil/modules.order"

int guest_init_mounts(veil_error_t *err);
/* Load every module of the list (one path per line, relative to
 * /lib/modules/<release>/) with finit_module; missing list = nothing to do. */
int guest_load_modules(const char *list, veil_error_t *err);
/* True when / is the initramfs' rootfs (pivot_root impossible: use --no-pivot). */
bool guest_root_is_initramfs(void);
/* sync + reboot(RB_POWER_OFF). Does not return on success. */
void guest_power_off(void);

/* initdata.c: look for an initdata disk (virtio-blk starting with the initdata header),
 * store its TOML as <out_dir>/initdata.toml and return the GetGuestDetails feature
 * "initdata-digest=<algorithm>:<hex>" (NULL with *err set on a bad disk, NULL without error
 * when there is none). The image itself is read by common/initdata.h. */
char *guest_read_initdata(const char *dev_dir, const char *out_dir, veil_error_t *err);

#endif
