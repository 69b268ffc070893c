#include "hypervisor/firmware.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "hypervisor/argvec.h"

#define DESCRIPTOR_MAX_SIZE (256 * 1024)

VEIL_DEFINE_CLEANUP(json_t, json_decref)

enum veil_fw_mapping veil_tee_fw_mapping(enum veil_tee tee)
{
  return (tee == VEIL_TEE_SNP || tee == VEIL_TEE_TDX) ? VEIL_FW_MEMORY : VEIL_FW_FLASH;
}

const char *veil_tee_fw_feature(enum veil_tee tee)
{
  switch (tee) {
  case VEIL_TEE_SEV: return "amd-sev";
  case VEIL_TEE_SEV_ES: return "amd-sev-es";
  case VEIL_TEE_SNP: return "amd-sev-snp";
  case VEIL_TEE_TDX: return "intel-tdx";
  default: return "none";
  }
}

static bool json_strarray_has(json_t *arr, const char *s)
{
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v)
    if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
      return true;
  return false;
}

static int reasonf(char **reason, const char *fmt, ...) VEIL_PRINTF(2, 3);
static int reasonf(char **reason, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(reason, fmt, ap) < 0)
    *reason = NULL;
  va_end(ap);
  return -1;
}

int veil_firmware_descriptor_check(const char *json, size_t len, enum veil_tee tee, char **exe,
                                   char **reason)
{
  json_error_t jerr;
  *exe = NULL;
  *reason = NULL;
  cleanup_with(json_decref) json_t *d = json_loadb(json, len, 0, &jerr);
  if (!json_is_object(d))
    return reasonf(reason, "not a JSON object (line %d: %s)", jerr.line, d ? "" : jerr.text);
  json_t *types = json_object_get(d, "interface-types");
  if (!json_is_array(types) || !json_strarray_has(types, "uefi"))
    return reasonf(reason, "not a UEFI firmware");
  json_t *targets = json_object_get(d, "targets");
  bool target_ok = false;
  size_t i;
  json_t *t;
  if (json_is_array(targets))
    json_array_foreach(targets, i, t) {
      json_t *arch = json_object_get(t, "architecture");
      json_t *machines = json_object_get(t, "machines");
      if (!json_is_string(arch) || strcmp(json_string_value(arch), "x86_64") != 0 ||
          !json_is_array(machines))
        continue;
      size_t j;
      json_t *m;
      json_array_foreach(machines, j, m)
        if (json_is_string(m) && fnmatch(json_string_value(m), "pc-q35-99.0", 0) == 0)
          target_ok = true;
    }
  if (!target_ok)
    return reasonf(reason, "no x86_64 q35 target");
  json_t *features = json_object_get(d, "features");
  const char *feature = veil_tee_fw_feature(tee);
  if (!json_is_array(features) || !json_strarray_has(features, feature))
    return reasonf(reason, "lacks feature %s", feature);
  if (json_strarray_has(features, "requires-smm"))
    return reasonf(reason, "requires SMM, which %s guests cannot use", veil_tee_name(tee));
  json_t *mapping = json_object_get(d, "mapping");
  json_t *device = json_object_get(mapping, "device");
  if (!json_is_string(device))
    return reasonf(reason, "no mapping.device");
  const char *want = veil_tee_fw_mapping(tee) == VEIL_FW_MEMORY ? "memory" : "flash";
  if (strcmp(json_string_value(device), want) != 0)
    return reasonf(reason, "mapping device %s, but %s needs %s", json_string_value(device),
                   veil_tee_name(tee), veil_tee_fw_mapping(tee) == VEIL_FW_MEMORY
                   ? "memory (-bios)" : "flash (pflash)");
  json_t *file = veil_tee_fw_mapping(tee) == VEIL_FW_MEMORY
               ? json_object_get(mapping, "filename")
               : json_object_get(json_object_get(mapping, "executable"), "filename");
  if (!json_is_string(file) || json_string_value(file)[0] != '/')
    return reasonf(reason, "no absolute firmware file name in the mapping");
  json_t *fmt = veil_tee_fw_mapping(tee) == VEIL_FW_FLASH
              ? json_object_get(json_object_get(mapping, "executable"), "format") : NULL;
  if (fmt && (!json_is_string(fmt) || strcmp(json_string_value(fmt), "raw") != 0))
    return reasonf(reason, "flash format is not raw");
  if ((*exe = strdup(json_string_value(file))) == NULL)
    return reasonf(reason, "out of memory");
  return 0;
}

static int cmp_names(const void *a, const void *b)
{
  const char *x = *(char *const *)a, *y = *(char *const *)b;
  return strcmp(strrchr(x, '/'), strrchr(y, '/'));
}

static bool seen_name(char *const *v, size_t n, const char *path)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(strrchr(v[i], '/'), strrchr(path, '/')) == 0)
      return true;
  return false;
}

int veil_firmware_select(const char *const *dirs, const char *root, enum veil_tee tee, char **path,
                         enum veil_fw_mapping *mapping, veil_error_t *err)
{
  if (root == NULL || strcmp(root, "/") == 0)
    root = "";
  cleanup_free char *d1 = NULL, *d2 = NULL;
  const char *defaults[3] = { NULL, NULL, NULL };
  if (dirs == NULL) {
    if (asprintf(&d1, "%s/etc/qemu/firmware", root) < 0 ||
        asprintf(&d2, "%s/usr/share/qemu/firmware", root) < 0)
      return veil_error_make(err, ENOMEM, "out of memory");
    defaults[0] = d1;
    defaults[1] = d2;
    dirs = defaults;
  }
  /* collect descriptors; an earlier directory overrides a later one with the same file name */
  struct veil_argvec files = { 0 };
  for (size_t i = 0; dirs[i]; i++) {
    cleanup_dir DIR *dir = opendir(dirs[i]);
    struct dirent *de;
    while (dir && (de = readdir(dir))) {
      size_t n = strlen(de->d_name);
      if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
        continue;
      cleanup_free char *p = NULL;
      if (asprintf(&p, "%s/%s", dirs[i], de->d_name) < 0)
        files.failed = 1;
      else if (!seen_name(files.v, files.n, p))
        veil_argvec_push(&files, p);
    }
  }
  cleanup_strv char **list = NULL;
  if (veil_argvec_finish(&files, &list, err) < 0)
    return -1;
  size_t n = veil_strv_len(list);
  qsort(list, n, sizeof(char *), cmp_names);
  struct veil_argvec rejected = { 0 };
  for (size_t i = 0; i < n; i++) {
    cleanup_free char *data = NULL, *exe = NULL, *reason = NULL, *exe_path = NULL;
    size_t len = 0;
    cleanup_error veil_error_t e = NULL;
    if (veil_read_file(list[i], DESCRIPTOR_MAX_SIZE, &data, &len, &e) < 0) {
      veil_argvec_pushf(&rejected, "%s: %s", list[i], e->msg);
      continue;
    }
    if (veil_firmware_descriptor_check(data, len, tee, &exe, &reason) < 0) {
      veil_argvec_pushf(&rejected, "%s: %s", list[i], reason ? reason : "out of memory");
      continue;
    }
    if (asprintf(&exe_path, "%s%s", root, exe) < 0)
      exe_path = NULL;
    if (exe_path == NULL || access(exe_path, R_OK) < 0) {
      veil_argvec_pushf(&rejected, "%s: firmware file %s is missing", list[i], exe);
      continue;
    }
    veil_argvec_clear(&rejected);
    *path = steal_pointer(&exe_path);
    if (mapping)
      *mapping = veil_tee_fw_mapping(tee);
    return 0;
  }
  cleanup_free char *dirlist = veil_strv_join((char *const *)dirs, ", ");
  cleanup_free char *why = rejected.v ? veil_strv_join(rejected.v, "; ") : NULL;
  veil_argvec_clear(&rejected);
  if (n == 0)
    return veil_error_make(err, ENOENT, "no firmware for %s: no descriptors in %s", veil_tee_name(tee),
                           dirlist ? dirlist : "?");
  return veil_error_make(err, ENOENT, "no firmware for %s among %zu descriptors in %s: %s",
                         veil_tee_name(tee), n, dirlist ? dirlist : "?", why ? why : "out of memory");
}
