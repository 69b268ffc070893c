#include "hypervisor/agent_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "ttrpc/address.h"

int veil_vhost_set_guest_cid(int fd, uint64_t cid)
{
  return ioctl(fd, VEIL_VHOST_VSOCK_SET_GUEST_CID, &cid);
}

const char *veil_channel_kind_name(enum veil_channel_kind k)
{
  switch (k) {
  case VEIL_CHANNEL_VIRTIO_SERIAL: return "virtio-serial";
  case VEIL_CHANNEL_VHOST_VSOCK: return "vhost-vsock";
  case VEIL_CHANNEL_HYBRID_VSOCK: return "hybrid vsock";
  }
  return "unknown";
}

void veil_agent_channel_clear(struct veil_agent_channel *c)
{
  free(c->unix_path);
  free(c->vhost_user_path);
  free(c->helper_path);
  free(c->address);
  veil_cleanup_closep(&c->vhost_fd);
  memset(c, 0, sizeof(*c));
  c->vhost_fd = -1;
}

static int set_address(struct veil_agent_channel *ch, const struct ttrpc_address *a, veil_error_t *err)
{
  free(ch->address);
  ch->address = ttrpc_address_to_string(a, err);
  return ch->address ? 0 : -1;
}

int veil_agent_channel_set_cid(struct veil_agent_channel *ch, uint32_t cid, veil_error_t *err)
{
  struct ttrpc_address a;
  ttrpc_address_vsock(&a, cid, VEIL_AGENT_VSOCK_PORT);
  ch->cid = cid;
  return set_address(ch, &a, err);
}

static int run_dir_path(const char *run_dir, const char *name, char **out, veil_error_t *err)
{
  if (asprintf(out, "%s/%s", run_dir, name) < 0) {
    *out = NULL;
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  return 0;
}

static int select_serial(const char *run_dir, struct veil_agent_channel *out, veil_error_t *err)
{
  struct ttrpc_address a;
  out->kind = VEIL_CHANNEL_VIRTIO_SERIAL;
  if (run_dir_path(run_dir, VEIL_AGENT_SERIAL_SOCKET, &out->unix_path, err) < 0 ||
      ttrpc_address_unix(&a, out->unix_path, err) < 0)
    return -1;
  return set_address(out, &a, err);
}

static int select_hybrid(const struct veil_config *c, const char *run_dir, struct veil_agent_channel *out,
                         veil_error_t *err)
{
  struct ttrpc_address a;
  out->kind = VEIL_CHANNEL_HYBRID_VSOCK;
  out->cid = VEIL_HYBRID_GUEST_CID;
  if ((out->helper_path = strdup(c->vhost_user_vsock_path)) == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (run_dir_path(run_dir, VEIL_HYBRID_VSOCK_SOCKET, &out->unix_path, err) < 0 ||
      run_dir_path(run_dir, VEIL_HYBRID_VHOST_SOCKET, &out->vhost_user_path, err) < 0)
    return -1;
  /* both sockets must fit sun_path (the longer name decides) */
  if (ttrpc_address_unix(&a, out->vhost_user_path, err) < 0 ||
      ttrpc_address_hvsock(&a, out->unix_path, VEIL_AGENT_VSOCK_PORT, err) < 0)
    return veil_error_wrap(err, "hybrid vsock sockets in run dir `%s` (config key run_dir)", run_dir);
  return set_address(out, &a, err);
}

static int no_vsock_error(const struct veil_config *c, const char *dev, const char *helper, veil_error_t *err)
{
  return veil_error_make(err, ENOENT,
                         "agent_channel \"vsock\" (profile %s): this host has no `%s` (load the "
                         "vhost_vsock module) and no vhost-device-vsock at `%s` for hybrid vsock "
                         "(config key vhost_user_vsock_path; scripts/fetch-vhost-device-vsock fetches "
                         "it, packaging/install.sh installs it); or set agent_channel to "
                         "\"virtio-serial\" (veil-agent only: kata-agent listens on vsock only)",
                         veil_profile_name(c->profile), dev, helper);
}

/* /dev/vhost-vsock and the helper binary under root ("/" or a fake tree). */
static int host_paths(const struct veil_config *c, const char *root, char **dev, char **helper, veil_error_t *err)
{
  root = (root == NULL || strcmp(root, "/") == 0) ? "" : root;
  if (asprintf(dev, "%s/dev/vhost-vsock", root) < 0 || asprintf(helper, "%s%s", root, c->vhost_user_vsock_path) < 0)
    return veil_error_make(err, ENOMEM, "out of memory");
  return 0;
}

int veil_agent_channel_available(const struct veil_config *c, const char *root, veil_error_t *err)
{
  if (strcmp(c->agent_channel, "vsock") != 0)
    return 0;
  cleanup_free char *dev = NULL, *helper = NULL;
  if (host_paths(c, root, &dev, &helper, err) < 0)
    return -1;
  if (access(dev, F_OK) == 0 || access(helper, X_OK) == 0)
    return 0;
  return no_vsock_error(c, dev, c->vhost_user_vsock_path, err);
}

static int reserve_cid(int fd, const char *dev, veil_set_cid_fn set_cid, struct veil_agent_channel *out,
                       veil_error_t *err)
{
  /* CIDs 0-2 are reserved (hypervisor, local, host); the first free one from 3 up is ours
   * for as long as the fd stays open. */
  for (uint32_t cid = VEIL_VSOCK_FIRST_CID; cid < VEIL_VSOCK_FIRST_CID + VEIL_VSOCK_MAX_TRIES; cid++) {
    if (set_cid(fd, cid) == 0)
      return veil_agent_channel_set_cid(out, cid, err);
    if (errno != EADDRINUSE)
      return veil_error_errno(err, "reserve guest CID %u on `%s` (VHOST_VSOCK_SET_GUEST_CID)", cid, dev);
  }
  return veil_error_make(err, EADDRINUSE, "reserve a guest CID on `%s`: CIDs %u-%u are all in use", dev,
                         VEIL_VSOCK_FIRST_CID, VEIL_VSOCK_FIRST_CID + VEIL_VSOCK_MAX_TRIES - 1);
}

static int select_vsock(const struct veil_config *c, const struct veil_channel_host *host, const char *run_dir,
                        struct veil_agent_channel *out, veil_error_t *err)
{
  cleanup_free char *dev = NULL, *helper = NULL;
  if (host_paths(c, host->root, &dev, &helper, err) < 0)
    return -1;
  cleanup_close int fd = open(dev, O_RDWR | O_CLOEXEC);
  if (fd < 0 && errno != ENOENT)
    return veil_error_errno(err, "open `%s`", dev);
  if (fd >= 0) {
    out->kind = VEIL_CHANNEL_VHOST_VSOCK;
    if (!host->reserve_cid)
      return 0;  /* the address follows once the CID is known */
    if (reserve_cid(fd, dev, host->set_cid ? host->set_cid : veil_vhost_set_guest_cid, out, err) < 0)
      return -1;
    out->vhost_fd = steal_fd(&fd);
    return 0;
  }
  if (access(helper, X_OK) < 0)
    return no_vsock_error(c, dev, c->vhost_user_vsock_path, err);
  return select_hybrid(c, run_dir, out, err);
}

int veil_agent_channel_select(const struct veil_config *c, const struct veil_channel_host *host,
                              const char *run_dir, struct veil_agent_channel *out, veil_error_t *err)
{
  memset(out, 0, sizeof(*out));
  out->vhost_fd = -1;
  int r = strcmp(c->agent_channel, "virtio-serial") == 0 ? select_serial(run_dir, out, err)
                                                         : select_vsock(c, host, run_dir, out, err);
  if (r < 0)
    veil_agent_channel_clear(out);
  return r;
}
