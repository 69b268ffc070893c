/* The host directory shared with a dev-profile guest (9p / virtio-fs), laid out so that the
 * guest can never choose where the shim mounts (kata CVE-2020-2026 class):
 *
 *   <state>/mounts/   host-only (0700): the shim creates every mount target here, beneath an
 *                     open dirfd, never following a link; a shared mount (propagates)
 *   <state>/shared/   what QEMU exports: a read-only, slave, recursive bind of mounts/, so
 *                     the guest sees each bind (rw where the bind is rw) but cannot create,
 *                     rename or replace anything in the directories the shim writes to.
 */
#ifndef VEIL_SHIM_SHARE_H
#define VEIL_SHIM_SHARE_H

#include <stdbool.h>

#include "common/error.h"

struct shim_share {
  char *mounts_dir;  /* <state>/mounts */
  char *export_dir;  /* <state>/shared: give this one to the VM */
  int mounts_fd;     /* O_PATH dirfd of mounts_dir, -1 when not set up */
};

/* Create both dirs and the read-only export under state_dir. A failure leaves nothing. */
int shim_share_setup(struct shim_share *sh, const char *state_dir, veil_error_t *err);
/* Bind-mount `source` (a file or directory from containerd's bundle or the kubelet) at
 * mounts/<name> (name may hold '/', e.g. "<cid>/rootfs"; no "..", no empty or leading '/'),
 * creating the target like the source; readonly makes the bind and every mount below it
 * read-only. */
int shim_share_bind(struct shim_share *sh, const char *source, const char *name, bool readonly,
                    veil_error_t *err);
/* Undo shim_share_bind (lazy, never following a link); "not mounted" is fine. */
void shim_share_unbind(struct shim_share *sh, const char *name);
/* Remove mounts/<name> and everything below it (after its binds are undone); never enters a
 * mount that is still there. */
int shim_share_remove(struct shim_share *sh, const char *name, veil_error_t *err);
/* Unmount the export and every bind, remove both dirs; idempotent. */
int shim_share_teardown(struct shim_share *sh, veil_error_t *err);

#endif
