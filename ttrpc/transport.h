/* Transport helpers behind ttrpc_dial / ttrpc_listen_*. Exposed for tests
 * (address parsing is testable without opening any socket). */
#ifndef VEIL_TTRPC_TRANSPORT_H
#define VEIL_TTRPC_TRANSPORT_H

#include <sys/socket.h>

#include "common/error.h"

#define TTRPC_UNIX_PATH_MAX 107 /* sizeof(sun_path) - 1 */

/* "CID:PORT" (decimal, both < 2^32). */
int ttrpc_parse_vsock(const char *s, unsigned *cid, unsigned *port, veil_error_t *err);
/* "/path/to/socket:PORT" (the port follows the last ':'); *path is malloc'd. */
int ttrpc_parse_hvsock(const char *s, char **path, unsigned *port, veil_error_t *err);

/* Connect fd to addr within timeout_ms (< 0 = no limit); fd ends up blocking. */
int ttrpc_connect_timeout(int fd, const struct sockaddr *addr, socklen_t len, int timeout_ms,
                          const char *what, veil_error_t *err);
int ttrpc_dial_unix(const char *path, int timeout_ms, veil_error_t *err);
int ttrpc_dial_vsock(unsigned cid, unsigned port, int timeout_ms, veil_error_t *err);
int ttrpc_dial_hvsock(const char *path, unsigned port, int timeout_ms, veil_error_t *err);

#endif
