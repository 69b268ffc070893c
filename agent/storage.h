/* Storage entries of CreateSandbox/CreateContainer: mount them in the guest.
 *
 * Drivers: 9p, virtio-fs (shared dirs), blk (a virtio-blk disk; source is the
 * device path, e.g. /dev/vdb), ephemeral (tmpfs), local (an empty directory).
 * image_guest_pull answers FailedPrecondition: veil-agent does not pull images
 * (kata-agent does, with its image-rs). Mount points must be absolute and free of
 * `..`. */
#ifndef VEIL_AGENT_STORAGE_H
#define VEIL_AGENT_STORAGE_H

#include <stdbool.h>
#include <stddef.h>

#include "agent.pb-c.h"
#include "common/error.h"

/* Mount one storage; on success *mounted is the path to unmount later (or NULL
 * when nothing was mounted, e.g. `local`). `do_mount` false only validates (the fuzz target:
 * nothing is created or mounted). */
int agent_storage_mount(const Grpc__Storage *s, bool do_mount, char **mounted, veil_error_t *err);
/* Lazy-unmount what agent_storage_mount mounted. */
void agent_storage_unmount(const char *path);

/* Split mount options into MS_* flags and a data string (malloc'd). */
int agent_mount_options(char *const *opts, size_t n, unsigned long *flags, char **data,
                        veil_error_t *err);
/* An absolute path without `..` components. */
bool agent_path_is_clean(const char *path);

#endif
