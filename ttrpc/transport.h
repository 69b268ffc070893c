/* Transport helpers behind ttrpc_address_dial / ttrpc_address_listen (address.h parses). */
#ifndef VEIL_TTRPC_TRANSPORT_H
#define VEIL_TTRPC_TRANSPORT_H

#include <sys/socket.h>

#include "common/error.h"

#define TTRPC_UNIX_PATH_MAX 107 /* sizeof(sun_path) - 1 */

/* Connect fd to addr within timeout_ms (< 0 = no limit); fd ends up blocking. */
int ttrpc_connect_timeout(int fd, const struct sockaddr *addr, socklen_t len, int timeout_ms,
                          const char *what, veil_error_t *err);
int ttrpc_dial_unix(const char *path, int timeout_ms, veil_error_t *err);
int ttrpc_dial_vsock(unsigned cid, unsigned port, int timeout_ms, veil_error_t *err);
int ttrpc_dial_hvsock(const char *path, unsigned port, int timeout_ms, veil_error_t *err);

#endif
