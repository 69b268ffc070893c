/* Agent channel addresses: where the host (or an in-guest client) reaches veil-agent.
 *
 *   vsock://CID:PORT     AF_VSOCK; CID decimal (1 = local loopback inside a guest), PORT decimal
 *   hvsock://PATH:PORT   hybrid vsock: unix socket PATH, then "CONNECT PORT\n" (Firecracker,
 *                        Cloud Hypervisor); PATH absolute
 *   unix://PATH          unix stream socket, e.g. QEMU's virtio-serial chardev (dev profile)
 *
 * Parsing is strict: unknown schemes, empty or relative paths, paths too long for sun_path,
 * non-decimal or out-of-range numbers are errors (EINVAL) that name the address. */
#ifndef VEIL_VSOCK_AGENT_ADDRESS_H
#define VEIL_VSOCK_AGENT_ADDRESS_H

#include <stdint.h>

#include "common/error.h"

enum veil_agent_transport {
  VEIL_AGENT_VSOCK,
  VEIL_AGENT_HVSOCK,
  VEIL_AGENT_UNIX,
};

struct veil_agent_address {
  enum veil_agent_transport transport;
  uint32_t cid;   /* vsock */
  uint32_t port;  /* vsock, hvsock */
  char *path;     /* hvsock, unix (heap) */
};

/* Parse `text` into *out (release with veil_agent_address_clear). */
int veil_agent_address_parse(const char *text, struct veil_agent_address *out, veil_error_t *err);
/* The address in ttrpc_dial's syntax (malloc'd). */
char *veil_agent_address_to_dial(const struct veil_agent_address *a, veil_error_t *err);
void veil_agent_address_clear(struct veil_agent_address *a);

#endif
