/* The agent channel (config key agent_channel, docs/hypervisor.md "Agent channel"):
 *   "vsock" (default, every profile; kata-agent listens on vsock only):
 *     - VHOST_VSOCK on hosts with /dev/vhost-vsock: a guest CID reserved through the device
 *       (the fd is handed to QEMU as vhostfd); address vsock://CID:1024;
 *     - HYBRID_VSOCK otherwise: vhost-user-vsock backed by one vhost-device-vsock per VM
 *       (config key vhost_user_vsock_path; vsock_helper.h), guest RAM from a shared memfd;
 *       address hvsock://<run dir>/vsock.sock:1024;
 *     - neither: the start fails saying what is missing (never a silent fallback);
 *   "virtio-serial": a virtio-serial port backed by <run dir>/agent.sock (veil-agent only). */
#ifndef VEIL_HYPERVISOR_AGENT_CHANNEL_H
#define VEIL_HYPERVISOR_AGENT_CHANNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "hypervisor/config.h"

#define VEIL_AGENT_VSOCK_PORT 1024
#define VEIL_AGENT_CHANNEL_NAME "agent.channel.0"
#define VEIL_VHOST_VSOCK_SET_GUEST_CID 0x4008AF60UL /* _IOW(0xAF, 0x60, __u64) */
#define VEIL_VSOCK_FIRST_CID 3u
#define VEIL_VSOCK_MAX_TRIES 4096u
/* The guest's CID behind a hybrid-vsock device: the CID space is the VM's own. */
#define VEIL_HYBRID_GUEST_CID 3u
/* Files of the channel in the run dir. */
#define VEIL_AGENT_SERIAL_SOCKET "agent.sock"     /* virtio-serial chardev (QEMU listens) */
#define VEIL_HYBRID_VHOST_SOCKET "vhost-vsock.sock" /* vhost-user control (helper listens) */
#define VEIL_HYBRID_VSOCK_SOCKET "vsock.sock"     /* host side of the guest's ports (helper) */

enum veil_channel_kind { VEIL_CHANNEL_VIRTIO_SERIAL, VEIL_CHANNEL_VHOST_VSOCK, VEIL_CHANNEL_HYBRID_VSOCK };

struct veil_agent_channel {
  enum veil_channel_kind kind;
  char *unix_path;    /* VIRTIO_SERIAL: <rundir>/agent.sock; HYBRID: <rundir>/vsock.sock */
  char *vhost_user_path; /* HYBRID: <rundir>/vhost-vsock.sock, QEMU's vhost-user chardev */
  char *helper_path;  /* HYBRID: the vhost-device-vsock binary to start */
  uint32_t cid;       /* VHOST_VSOCK: reserved guest CID (0 = libvirt picks); HYBRID: 3 */
  int vhost_fd;       /* VHOST_VSOCK: open /dev/vhost-vsock holding the CID, else -1 */
  char *address;      /* ttrpc/address.h text the agent is dialed at; NULL until known */
};

/* How a CID is set on an open /dev/vhost-vsock (injectable: tests fake the device). Returns 0
 * or -1 with errno. */
typedef int (*veil_set_cid_fn)(int fd, uint64_t cid);
int veil_vhost_set_guest_cid(int fd, uint64_t cid);

struct veil_channel_host {
  const char *root;        /* "/" or a fake tree (tests) */
  veil_set_cid_fn set_cid; /* NULL = the real ioctl */
  bool reserve_cid;        /* false: the backend's manager picks the CID (libvirt) */
};

/* Whether this host can give config c its channel (before anything is created): "vsock" needs
 * /dev/vhost-vsock or an executable vhost_user_vsock_path. The error says what is missing and
 * how to get it. */
int veil_agent_channel_available(const struct veil_config *c, const char *root, veil_error_t *err);
/* Choose and prepare the channel for config c; nothing is started here. */
int veil_agent_channel_select(const struct veil_config *c, const struct veil_channel_host *host,
                              const char *run_dir, struct veil_agent_channel *out, veil_error_t *err);
/* Once the CID is known (libvirt reads it back): address vsock://CID:1024. */
int veil_agent_channel_set_cid(struct veil_agent_channel *ch, uint32_t cid, veil_error_t *err);
void veil_agent_channel_clear(struct veil_agent_channel *c);
const char *veil_channel_kind_name(enum veil_channel_kind k);

#endif
