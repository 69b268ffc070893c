/* initdata on the host: annotation or TOML file in, disk image out (see initdata.h). */
#include "measure/initdata.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/fileutil.h"

VEIL_DEFINE_CLEANUP(struct veil_initdata, veil_initdata_free)

int veil_initdata_from_annotation(const char *value, struct veil_initdata **out, veil_error_t *err)
{
  size_t n = strnlen(value, VEIL_INITDATA_MAX_ANNOTATION + 1);
  if (n > VEIL_INITDATA_MAX_ANNOTATION)
    return veil_error_make(err, E2BIG, "annotation %s is larger than %u bytes",
                           VEIL_INITDATA_ANNOTATION, VEIL_INITDATA_MAX_ANNOTATION);
  cleanup_with(veil_initdata_free) struct veil_initdata *d = calloc(1, sizeof(*d));
  if (!d)
    return veil_error_errno(err, "allocate");
  if (veil_base64_decode(value, VEIL_INITDATA_MAX_ANNOTATION, &d->gzip, &d->gzip_len, err) < 0 ||
      veil_initdata_gunzip(d->gzip, d->gzip_len, &d->toml, &d->toml_len, err) < 0 ||
      veil_initdata_parse(d, err) < 0)
    return veil_error_wrap(err, "annotation %s", VEIL_INITDATA_ANNOTATION);
  *out = steal_pointer(&d);
  return 0;
}

int veil_initdata_from_toml(const char *toml, size_t len, struct veil_initdata **out,
                            veil_error_t *err)
{
  if (len > VEIL_INITDATA_MAX_TOML)
    return veil_error_make(err, E2BIG, "initdata document is larger than %u bytes",
                           VEIL_INITDATA_MAX_TOML);
  cleanup_with(veil_initdata_free) struct veil_initdata *d = calloc(1, sizeof(*d));
  if (!d || !(d->toml = malloc(len + 1)))
    return veil_error_errno(err, "allocate");
  memcpy(d->toml, toml, len);
  d->toml[len] = '\0';
  d->toml_len = len;
  if (veil_initdata_parse(d, err) < 0 ||
      veil_initdata_gzip(d->toml, len, &d->gzip, &d->gzip_len, err) < 0)
    return -1;
  *out = steal_pointer(&d);
  return 0;
}

int veil_initdata_write_image(const struct veil_initdata *d, const char *path, veil_error_t *err)
{
  cleanup_free uint8_t *img = NULL;
  size_t size = 0;
  if (veil_initdata_image_build(d, &img, &size, err) < 0 ||
      veil_write_file_atomic(path, img, size, 0644, err) < 0) /* not secret: it is in the pod spec */
    return veil_error_wrap(err, "write initdata image");
  return 0;
}
