#include "shim/virtual_volume.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/cleanup.h"

VEIL_DEFINE_CLEANUP(json_t, json_decref)

static bool has_prefix(const char *s) { return strncmp(s, VIRTUAL_VOLUME_PREFIX, strlen(VIRTUAL_VOLUME_PREFIX)) == 0; }

bool shim_rootfs_has_virtual_volume(Containerd__Types__Mount **mounts, size_t n)
{
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < mounts[i]->n_options; k++)
      if (has_prefix(mounts[i]->options[k]))
        return true;
  return false;
}

static bool is_hex(const char *s, size_t len)
{
  if (strlen(s) != len)
    return false;
  for (; *s; s++)
    if (!strchr("0123456789abcdefABCDEF", *s))
      return false;
  return true;
}

static bool block_size_ok(json_int_t v) { return v >= 512 && v <= (1 << 19); }

/* kata types/virtual_volume.go DmVerityInfo.IsValid */
static int check_dm_verity(json_t *d, veil_error_t *err)
{
  const char *type = json_string_value(json_object_get(d, "hashtype"));
  const char *hash = json_string_value(json_object_get(d, "hash"));
  json_int_t blocks = json_integer_value(json_object_get(d, "blocknum"));
  json_int_t bsize = json_integer_value(json_object_get(d, "blocksize"));
  json_int_t hsize = json_integer_value(json_object_get(d, "hashsize"));
  json_int_t offset = json_integer_value(json_object_get(d, "offset"));
  if (!type || !hash || !((strcasecmp(type, "sha256") == 0 && is_hex(hash, 64)) ||
                          (strcasecmp(type, "sha1") == 0 && is_hex(hash, 40))))
    return veil_error_make(err, EINVAL, "dm_verity: hashtype must be sha256 or sha1 with a hex "
                           "hash of that length");
  if (blocks <= 0 || blocks > 0xffffffffLL || !block_size_ok(bsize) || !block_size_ok(hsize))
    return veil_error_make(err, EINVAL, "dm_verity: blocknum or block sizes out of range");
  if (offset % hsize != 0 || offset < bsize * blocks)
    return veil_error_make(err, EINVAL, "dm_verity: hash offset %lld is not past the data and "
                           "aligned", (long long)offset);
  return 0;
}

static bool is_string_map(json_t *o)
{
  if (!json_is_object(o))
    return false;
  const char *k;
  json_t *v;
  json_object_foreach(o, k, v) if (!json_is_string(v)) return false;
  return true;
}

int shim_virtual_volume_parse(const char *b64, json_t **volume, veil_error_t *err)
{
  cleanup_free uint8_t *raw = NULL;
  size_t len = 0;
  if (veil_base64_decode(b64, VIRTUAL_VOLUME_MAX, &raw, &len, err) < 0)
    return veil_error_wrap(err, "%s", VIRTUAL_VOLUME_PREFIX);
  json_error_t jerr;
  cleanup_with(json_decref) json_t *v =
      json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!json_is_object(v))
    return veil_error_make(err, EINVAL, "%s: not a JSON object (%s)", VIRTUAL_VOLUME_PREFIX,
                           v ? "wrong type" : jerr.text);
  const char *type = json_string_value(json_object_get(v, "volume_type"));
  if (type == NULL || type[0] == '\0')
    return veil_error_make(err, EINVAL, "%s: volume_type is missing", VIRTUAL_VOLUME_PREFIX);
  const char *maps[][2] = {{"direct_volume", "metadata"}, {"image_pull", "metadata"}};
  for (size_t i = 0; i < 2; i++) {
    json_t *sub = json_object_get(v, maps[i][0]);
    if (sub && !json_is_null(sub) && !is_string_map(json_object_get(sub, maps[i][1])))
      return veil_error_make(err, EINVAL, "%s: %s.%s must be an object of strings",
                             VIRTUAL_VOLUME_PREFIX, maps[i][0], maps[i][1]);
  }
  json_t *dm = json_object_get(v, "dm_verity");
  if (dm && !json_is_null(dm) && check_dm_verity(dm, err) < 0)
    return veil_error_wrap(err, "%s", VIRTUAL_VOLUME_PREFIX);
  *volume = steal_pointer(&v);
  return 0;
}

int shim_rootfs_guest_pull_metadata(Containerd__Types__Mount **mounts, size_t n,
                                    json_t **metadata, veil_error_t *err)
{
  cleanup_with(json_decref) json_t *merged = json_object();
  if (merged == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < mounts[i]->n_options; k++) {
      const char *o = mounts[i]->options[k];
      if (!has_prefix(o))
        continue;
      cleanup_with(json_decref) json_t *v = NULL;
      if (shim_virtual_volume_parse(o + strlen(VIRTUAL_VOLUME_PREFIX), &v, err) < 0)
        return veil_error_wrap_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "rootfs");
      const char *type = json_string_value(json_object_get(v, "volume_type"));
      if (strcmp(type, "image_guest_pull") != 0)
        return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT,
                               "rootfs: virtual volume type `%s` is not supported (veil "
                               "takes image_guest_pull, the guest pulls the image)", type);
      json_t *meta = json_object_get(json_object_get(v, "image_pull"), "metadata");
      if (meta && json_object_update(merged, meta) < 0)
        return veil_error_make(err, ENOMEM, "out of memory");
    }
  *metadata = steal_pointer(&merged);
  return 0;
}
