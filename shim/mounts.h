/* Host-side mounts for a container: containerd's rootfs mounts onto <bundle>/rootfs (the
 * binds into the sandbox's share are share.h's). Every helper undoes itself on error. */
#ifndef VEIL_SHIM_MOUNTS_H
#define VEIL_SHIM_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include "common/error.h"
#include "github.com/containerd/containerd/api/types/mount.pb-c.h"

/* Mount containerd's rootfs mounts, in order, on target. */
int shim_mount_rootfs(Containerd__Types__Mount **mounts, size_t n, const char *target,
                      veil_error_t *err);
/* Lazy unmount that ignores "not mounted". */
void shim_unmount(const char *target);
/* Parse mount(8)-style options into flags + data (data is malloc'd). */
int shim_parse_mount_options(char **options, size_t n, unsigned long *flags, char **data,
                             veil_error_t *err);

#endif
