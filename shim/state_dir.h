/* The shim's per-sandbox state directory,
 * /run/veil-shim/<hash(containerd address, namespace)>/<sandbox-id>/ (0700):
 *   shim.pid     the server's pid
 *   vmm.pid      the VMM's pid (to clean up after a crashed shim)
 *   shared/      dev profile: the 9p share (container rootfs binds live here)
 *   initdata.img initdata disk (TEE profiles with the annotation)
 *   measurement.json  the expected launch measurement
 * Nothing of the shim's lives in the bundle except containerd's `address`/`shim.pid`. */
#ifndef VEIL_SHIM_STATE_DIR_H
#define VEIL_SHIM_STATE_DIR_H

#include <stddef.h>
#include <sys/types.h>
#include "common/error.h"

#define SHIM_STATE_ROOT "/run/veil-shim"

/* Scope state to one containerd (address) and namespace: <root>/<hash>/<id>. */
void shim_state_set_scope(const char *containerd_address, const char *ns);
/* <root>/<id>; root NULL = SHIM_STATE_ROOT ($VEIL_SHIM_STATE_ROOT overrides). */
int shim_state_dir_path(const char *id, char *out, size_t len, veil_error_t *err);
int shim_state_dir_create(const char *id, char *out, size_t len, veil_error_t *err);
int shim_state_write_pid(const char *dir, const char *name, pid_t pid, veil_error_t *err);
/* Unmount everything below dir (deepest first) and remove it. */
int shim_state_dir_remove(const char *dir, veil_error_t *err);
/* After a shim crash: if <state>/<id> exists and its shim is dead, kill the VMM it
 * recorded (only if /proc/<pid>/exe still looks like a VMM) and remove the directory. */
int shim_state_reap_orphan(const char *id, veil_error_t *err);

#endif
