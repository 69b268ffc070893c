/* The agent channel: vhost-vsock with a guest CID reserved through /dev/vhost-vsock (the fd is
 * handed to QEMU as vhostfd) for TEE profiles on hosts that have it; otherwise (and always for
 * dev) a virtio-serial port backed by a unix socket in the run dir. */
#ifndef VEIL_HYPERVISOR_AGENT_CHANNEL_H
#define VEIL_HYPERVISOR_AGENT_CHANNEL_H

#include <stdint.h>

#include "common/error.h"
#include "hypervisor/config.h"

#define VEIL_AGENT_VSOCK_PORT 1024
#define VEIL_AGENT_CHANNEL_NAME "agent.channel.0"
#define VEIL_VHOST_VSOCK_SET_GUEST_CID 0x4008AF60UL /* _IOW(0xAF, 0x60, __u64) */
#define VEIL_VSOCK_FIRST_CID 3u
#define VEIL_VSOCK_MAX_TRIES 4096u

enum veil_channel_kind { VEIL_CHANNEL_UNIX, VEIL_CHANNEL_VSOCK };

struct veil_agent_channel {
  enum veil_channel_kind kind;
  char *unix_path;  /* UNIX: <rundir>/agent.sock */
  uint32_t cid;     /* VSOCK: reserved guest CID */
  int vhost_fd;     /* VSOCK: open /dev/vhost-vsock holding the CID, else -1 */
  char *address;    /* "unix:///…" or "vsock://CID:1024" */
};

/* How a CID is set on an open /dev/vhost-vsock (injectable: tests fake the device). Returns 0
 * or -1 with errno. */
typedef int (*veil_set_cid_fn)(int fd, uint64_t cid);
int veil_vhost_set_guest_cid(int fd, uint64_t cid);

/* Choose and prepare the channel. root: "/" or a fake tree; set_cid NULL = the real ioctl. */
int veil_agent_channel_select(enum veil_profile profile, const char *root, const char *run_dir,
                              veil_set_cid_fn set_cid, struct veil_agent_channel *out,
                              veil_error_t *err);
void veil_agent_channel_clear(struct veil_agent_channel *c);

#endif
