/* The shim's socket address, computed as containerd's shim library does
 * (pkg/shim/util_unix.go SocketAddress):
 *   unix:///run/containerd/s/<hex(sha256(<containerd address>/<namespace>/<group id>))> */
#ifndef VEIL_SHIM_ADDRESS_H
#define VEIL_SHIM_ADDRESS_H

#include <stddef.h>
#include "common/error.h"

#define SHIM_SOCKET_DIR "/run/containerd/s"

/* Writes "unix://<dir>/<hex>" into out. socket_dir NULL = SHIM_SOCKET_DIR. */
int shim_socket_address(const char *containerd_address, const char *ns, const char *group_id,
                        const char *socket_dir, char *out, size_t out_len, veil_error_t *err);
/* Strip "unix://" (returns the path part inside addr). */
const char *shim_address_path(const char *addr);

#endif
