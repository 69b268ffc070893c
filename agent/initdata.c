/* initdata disk reader (guest_init.h): finds the virtio-blk disk that starts with the
 * initdata header and reads it with the contract the host wrote it with (common/initdata.h:
 * layout, bounded gunzip, TOML, digest, the "initdata-digest=" report). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/guest_init.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/initdata.h"
#include "common/log.h"

VEIL_DEFINE_CLEANUP(struct veil_initdata, veil_initdata_free)

/* Read and check the initdata image on an open disk whose header declared glen bytes. */
static char *read_disk(int fd, const char *dev, uint64_t glen, const char *out_dir,
                       veil_error_t *err)
{
  size_t n = VEIL_INITDATA_IMAGE_HEADER + (size_t)glen;
  cleanup_free uint8_t *img = malloc(n);
  if (!img)
    return veil_error_make(err, ENOMEM, "out of memory"), NULL;
  if (pread(fd, img, n, 0) != (ssize_t)n)
    return veil_error_make(err, EIO, "initdata disk %s: short read", dev), NULL;
  cleanup_with(veil_initdata_free) struct veil_initdata *d = NULL;
  if (veil_initdata_from_image(img, n, &d, err) < 0)
    return veil_error_wrap(err, "initdata disk %s", dev), NULL;
  char path[4096];
  snprintf(path, sizeof(path), "%s/initdata.toml", out_dir);
  if (veil_mkdir_p(out_dir, 0700, err) < 0 ||
      veil_write_file_atomic(path, d->toml, d->toml_len, 0600, err) < 0)
    return NULL;
  char *feature = veil_initdata_digest_feature(d->algorithm, d->digest, d->digest_len);
  if (!feature)
    return veil_error_make(err, ENOMEM, "out of memory"), NULL;
  log_info("initdata read disk=%s %s", dev, feature);
  return feature;
}

char *guest_read_initdata(const char *dev_dir, const char *out_dir, veil_error_t *err)
{
  cleanup_dir DIR *d = opendir("/sys/block");
  if (!d)
    return NULL;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (strncmp(e->d_name, "vd", 2) != 0)
      continue;
    char dev[300];
    snprintf(dev, sizeof(dev), "%s/%s", dev_dir, e->d_name);
    cleanup_close int fd = open(dev, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      continue;
    uint8_t head[VEIL_INITDATA_IMAGE_HEADER];
    uint64_t glen = 0;
    if (pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head))
      continue;
    int r = veil_initdata_image_header(head, sizeof(head), &glen, err);
    if (r < 0)
      return veil_error_wrap(err, "initdata disk %s", dev), NULL;
    if (r > 0)
      return read_disk(fd, dev, glen, out_dir, err);
  }
  return NULL;
}
