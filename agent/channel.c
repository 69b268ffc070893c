/* virtio-serial agent channel (channel.h). */
#include "agent/channel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"

#define CHANNEL_REOPEN_DELAY_MS 30

struct agent_channel {
  ttrpc_server *server;
  char *path;
  int fd;
  unsigned reopens;
};

char *agent_channel_find(const char *sys_dir, const char *dev_dir, const char *name,
                         veil_error_t *err)
{
  cleanup_dir DIR *d = opendir(sys_dir);
  if (!d)
    return veil_error_errno(err, "open %s", sys_dir), NULL;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char p[4096];
    snprintf(p, sizeof(p), "%s/%s/name", sys_dir, e->d_name);
    cleanup_free char *n = NULL;
    size_t len;
    veil_error_t ignored = NULL;
    if (veil_read_file(p, 256, &n, &len, &ignored) < 0) {
      veil_error_release(&ignored);
      continue;
    }
    n[strcspn(n, "\n")] = '\0';
    if (strcmp(n, name) != 0)
      continue;
    char *dev = NULL;
    if (asprintf(&dev, "%s/%s", dev_dir, e->d_name) < 0)
      return veil_error_make(err, ENOMEM, "out of memory"), NULL;
    if (access(dev, F_OK) < 0) {
      /* No udev/mdev in the guest: create the node from sysfs' major:minor. */
      snprintf(p, sizeof(p), "%s/%s/dev", sys_dir, e->d_name);
      cleanup_free char *mm = NULL;
      unsigned ma, mi;
      if (veil_read_file(p, 64, &mm, &len, &ignored) == 0 && sscanf(mm, "%u:%u", &ma, &mi) == 2 &&
          mknod(dev, S_IFCHR | 0600, makedev(ma, mi)) < 0 && errno != EEXIST)
        log_warn("mknod %s: %s", dev, strerror(errno));
      veil_error_release(&ignored);
    }
    return dev;
  }
  return veil_error_make(err, ENOENT, "no virtio-serial port named %s in %s", name, sys_dir), NULL;
}

static int channel_add(struct agent_channel *ch, veil_error_t *err)
{
  int fd = open(ch->path, O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return veil_error_errno(err, "open %s", ch->path);
  ch->fd = fd;
  if (ttrpc_server_add_connection(ch->server, fd, err) < 0) {
    ch->fd = -1;
    return -1;
  }
  return 0;
}

static void channel_closed(void *user, int fd)
{
  struct agent_channel *ch = user;
  if (fd != ch->fd)
    return;
  ch->fd = -1;
  /* The host is not connected (or went away): reading would EOF immediately, so
   * wait a little before reopening instead of spinning. */
  poll(NULL, 0, CHANNEL_REOPEN_DELAY_MS);
  veil_error_t e = NULL;
  if (channel_add(ch, &e) < 0) {
    veil_log_error(VEIL_LOG_ERROR, e, "reopen agent channel");
    veil_error_release(&e);
  }
  if ((++ch->reopens % 1000) == 1)
    log_debug("agent channel reopened count=%u", ch->reopens);
}

struct agent_channel *agent_channel_open(ttrpc_server *s, const char *sys_dir, const char *dev_dir,
                                         const char *name, veil_error_t *err)
{
  struct agent_channel *ch = calloc(1, sizeof(*ch));
  if (!ch)
    return veil_error_make(err, ENOMEM, "out of memory"), NULL;
  ch->server = s;
  ch->fd = -1;
  if (!(ch->path = agent_channel_find(sys_dir, dev_dir, name, err)) || channel_add(ch, err) < 0) {
    agent_channel_free(ch);
    return NULL;
  }
  ttrpc_server_on_connection_closed(s, channel_closed, ch);
  log_info("serving agent channel %s on %s", name, ch->path);
  return ch;
}

void agent_channel_free(struct agent_channel *ch)
{
  if (!ch)
    return;
  free(ch->path);
  free(ch);
}
