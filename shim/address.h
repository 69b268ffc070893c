/* The shim's socket address, computed as containerd's shim library does
 * (pkg/shim/util_unix.go CreateSocketAddress):
 *   unix://<socket dir>/<hex(sha256(<containerd address>/<namespace>/<group id>))>
 * The socket dir is /run/containerd/s up to containerd 2.2; 2.3+ may name another one
 * (the shim manager's `socket_dir`, sent in BootstrapParams). */
#ifndef VEIL_SHIM_ADDRESS_H
#define VEIL_SHIM_ADDRESS_H

#include <stdbool.h>
#include <stddef.h>
#include "common/error.h"

#define SHIM_SOCKET_DIR "/run/containerd/s"

/* Writes "unix://<dir>/<hex>" into out. socket_dir NULL = SHIM_SOCKET_DIR. */
int shim_socket_address(const char *containerd_address, const char *ns, const char *group_id,
                        const char *socket_dir, char *out, size_t out_len, veil_error_t *err);
/* Strip "unix://" (returns the path part inside addr). */
const char *shim_address_path(const char *addr);
/* Does something accept connections on this unix socket path? */
bool shim_socket_alive(const char *path);

#endif
