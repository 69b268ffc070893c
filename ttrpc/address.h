/* The one codec for ttrpc endpoint addresses (agent channel, containerd's ttrpc socket, the
 * agent's listener):
 *
 *   unix:///path  or  /path   unix stream socket; the path is absolute, < 108 bytes
 *   vsock://CID:PORT          AF_VSOCK, decimal CID and PORT (< 2^32); for listening only, CID
 *                             -1 means VMADDR_CID_ANY (kata-agent's default vsock://-1:1024)
 *   hvsock:///path:PORT       hybrid vsock (Firecracker, Cloud Hypervisor, vhost-device-vsock):
 *                             the unix socket path, then "CONNECT PORT\n"; the port follows the
 *                             last ':'
 *   fd://N                    an already-open byte stream (dial only)
 *
 * Parsing is strict (unknown schemes, relative or over-long paths, signs, spaces, non-decimal
 * or out-of-range numbers are EINVAL naming the address) and parse(format(a)) == a. Parsing
 * opens nothing. */
#ifndef VEIL_TTRPC_ADDRESS_H
#define VEIL_TTRPC_ADDRESS_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define TTRPC_ADDRESS_PATH_MAX 107 /* sizeof(sun_path) - 1 */
#define TTRPC_ADDRESS_TEXT_MAX 160 /* longest formatted address, with its NUL */
#define TTRPC_VSOCK_CID_ANY UINT32_MAX

enum ttrpc_address_kind { TTRPC_ADDRESS_UNIX, TTRPC_ADDRESS_VSOCK, TTRPC_ADDRESS_HVSOCK, TTRPC_ADDRESS_FD };

/* What the address is for: a listener may bind VMADDR_CID_ANY, a dialer may not; fd:// and
 * hvsock:// only dial. */
enum ttrpc_address_use { TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_LISTEN };

struct ttrpc_address {
  enum ttrpc_address_kind kind;
  uint32_t cid;                            /* vsock */
  uint32_t port;                           /* vsock, hvsock */
  int fd;                                  /* fd */
  char path[TTRPC_ADDRESS_PATH_MAX + 1];   /* unix, hvsock */
};

int ttrpc_address_parse(const char *text, enum ttrpc_address_use use, struct ttrpc_address *out,
                        veil_error_t *err);
/* Canonical text into buf (TTRPC_ADDRESS_TEXT_MAX is always enough). Returns 0, or -1 with
 * EINVAL for a struct no parse could have produced. */
int ttrpc_address_format(const struct ttrpc_address *a, char *buf, size_t size, veil_error_t *err);
/* The same, malloc'd. */
char *ttrpc_address_to_string(const struct ttrpc_address *a, veil_error_t *err);
/* Helpers that fill an address, for code that builds one rather than parsing it. */
int ttrpc_address_unix(struct ttrpc_address *out, const char *path, veil_error_t *err);
int ttrpc_address_hvsock(struct ttrpc_address *out, const char *path, uint32_t port, veil_error_t *err);
void ttrpc_address_vsock(struct ttrpc_address *out, uint32_t cid, uint32_t port);

/* A connected byte-stream fd within timeout_ms (< 0 = no limit), connect + handshake. */
int ttrpc_address_dial(const struct ttrpc_address *a, int timeout_ms, veil_error_t *err);
/* A listening socket: unix (mode 0600; a stale socket is replaced) or vsock. */
int ttrpc_address_listen(const struct ttrpc_address *a, veil_error_t *err);

#endif
