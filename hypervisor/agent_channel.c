#include "hypervisor/agent_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/cleanup.h"

int veil_vhost_set_guest_cid(int fd, uint64_t cid)
{
  return ioctl(fd, VEIL_VHOST_VSOCK_SET_GUEST_CID, &cid);
}

void veil_agent_channel_clear(struct veil_agent_channel *c)
{
  free(c->unix_path);
  free(c->address);
  veil_cleanup_closep(&c->vhost_fd);
  memset(c, 0, sizeof(*c));
  c->vhost_fd = -1;
}

static int select_unix(const char *run_dir, struct veil_agent_channel *out, veil_error_t *err)
{
  out->kind = VEIL_CHANNEL_UNIX;
  if (asprintf(&out->unix_path, "%s/agent.sock", run_dir) < 0 ||
      asprintf(&out->address, "unix://%s", out->unix_path) < 0) {
    veil_agent_channel_clear(out);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  return 0;
}

int veil_agent_channel_select(enum veil_profile profile, const char *root, const char *run_dir,
                              veil_set_cid_fn set_cid, struct veil_agent_channel *out,
                              veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  out->vhost_fd = -1;
  if (profile == VEIL_PROFILE_DEV)
    return select_unix(run_dir, out, err);
  cleanup_free char *dev = NULL;
  if (asprintf(&dev, "%s/dev/vhost-vsock", (root == NULL || strcmp(root, "/") == 0) ? "" : root) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  cleanup_close int fd = open(dev, O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return select_unix(run_dir, out, err);  /* no vhost-vsock on this host */
    return veil_error_errno(err, "open `%s`", dev);
  }
  if (set_cid == NULL)
    set_cid = veil_vhost_set_guest_cid;
  /* CIDs 0-2 are reserved (hypervisor, local, host); the first free one from 3 up is ours
   * for as long as the fd stays open. */
  for (uint32_t cid = VEIL_VSOCK_FIRST_CID; cid < VEIL_VSOCK_FIRST_CID + VEIL_VSOCK_MAX_TRIES; cid++) {
    if (set_cid(fd, cid) == 0) {
      out->kind = VEIL_CHANNEL_VSOCK;
      out->cid = cid;
      if (asprintf(&out->address, "vsock://%u:%u", cid, VEIL_AGENT_VSOCK_PORT) < 0) {
        veil_agent_channel_clear(out);
        return veil_error_make(err, ENOMEM, "out of memory");
      }
      out->vhost_fd = steal_fd(&fd);
      return 0;
    }
    if (errno != EADDRINUSE)
      return veil_error_errno(err, "reserve guest CID %u on `%s` (VHOST_VSOCK_SET_GUEST_CID)", cid, dev);
  }
  return veil_error_make(err, EADDRINUSE, "reserve a guest CID on `%s`: CIDs %u-%u are all in use", dev,
                         VEIL_VSOCK_FIRST_CID, VEIL_VSOCK_FIRST_CID + VEIL_VSOCK_MAX_TRIES - 1);
}
