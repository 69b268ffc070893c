/* Runtime configuration: strict JSON loader (unknown keys, wrong types and values are errors
 * naming the key and the file), profile defaults, and the config file lookup order. */
#include "hypervisor/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"

#define CONFIG_MAX_SIZE (1024 * 1024)
#define DEFAULT_CONFIG_PATH "/etc/veil/configuration.json"
#define DEFAULT_GUEST_DIR "/usr/local/share/veil/guest"
#define DEFAULT_VHOST_USER_VSOCK "/usr/local/libexec/veil/vhost-device-vsock" /* packaging/install.sh */
#ifndef VEIL_DATADIR /* set by hypervisor/meson.build */
#define VEIL_DATADIR "/usr/local/share"
#endif

VEIL_DEFINE_CLEANUP(json_t, json_decref)
VEIL_DEFINE_CLEANUP(struct veil_config, veil_config_free)

static const char *const profile_names[] = {
  [VEIL_PROFILE_DEV] = "dev", [VEIL_PROFILE_SEV] = "sev", [VEIL_PROFILE_SEV_ES] = "sev-es",
  [VEIL_PROFILE_SNP] = "snp", [VEIL_PROFILE_TDX] = "tdx", [VEIL_PROFILE_SE] = "se",
};

const char *veil_profile_name(enum veil_profile p)
{
  if ((unsigned)p < sizeof(profile_names) / sizeof(profile_names[0]))
    return profile_names[p];
  return "unknown";
}

int veil_profile_from_name(const char *name, enum veil_profile *out)
{
  for (unsigned i = 0; i < sizeof(profile_names) / sizeof(profile_names[0]); i++)
    if (strcmp(name, profile_names[i]) == 0) {
      *out = (enum veil_profile)i;
      return 0;
    }
  return -1;
}

bool veil_profile_is_tee(enum veil_profile p)
{
  return p != VEIL_PROFILE_DEV;
}

bool veil_profile_tee(enum veil_profile p, enum veil_tee *out)
{
  switch (p) {
  case VEIL_PROFILE_SEV: *out = VEIL_TEE_SEV; return true;
  case VEIL_PROFILE_SEV_ES: *out = VEIL_TEE_SEV_ES; return true;
  case VEIL_PROFILE_SNP: *out = VEIL_TEE_SNP; return true;
  case VEIL_PROFILE_TDX: *out = VEIL_TEE_TDX; return true;
  case VEIL_PROFILE_SE: *out = VEIL_TEE_SE; return true;
  case VEIL_PROFILE_DEV: break;
  }
  return false;
}

void veil_config_free(struct veil_config *c)
{
  if (c == NULL)
    return;
  char **strs[] = { &c->path, &c->backend, &c->qemu_path, &c->kernel, &c->initrd, &c->firmware,
                    &c->kernel_params, &c->machine_type, &c->accel, &c->shared_fs, &c->run_dir,
                    &c->vcpu_type, &c->id_block, &c->id_auth, &c->quote_generation_socket,
                    &c->qemu_user, &c->libvirt_uri, &c->agent_channel, &c->vhost_user_vsock_path };
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
    free(*strs[i]);
  veil_cleanup_strvp(&c->enable_annotations);
  free(c);
}

static int set_str(char **dst, const char *v)
{
  char *s = v ? strdup(v) : NULL;
  if (v && s == NULL)
    return -1;
  free(*dst);
  *dst = s;
  return 0;
}

int veil_config_new_default(enum veil_profile profile, struct veil_config **out, veil_error_t *err)
{
  cleanup_with(veil_config_free) struct veil_config *c = calloc(1, sizeof(*c));
  if (c == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  bool tee = veil_profile_is_tee(profile);
  bool s390 = profile == VEIL_PROFILE_SE;
  c->profile = profile;
  c->vcpus = 1;
  c->memory_mb = tee ? 2048 : 512;
  c->dial_timeout_s = (profile == VEIL_PROFILE_SNP || s390) ? 90 : 60;
  c->debug = false;
  c->hardening = true;
  c->kernel_hashes = profile == VEIL_PROFILE_SNP;
  c->policy = profile == VEIL_PROFILE_SNP ? 0x30000 : profile == VEIL_PROFILE_SEV_ES ? 0x5
            : profile == VEIL_PROFILE_SEV ? 0x1 : 0;
  c->guest_features = profile == VEIL_PROFILE_SNP ? 0x1 : 0;
  c->enable_annotations = calloc(1, sizeof(char *));
  int r = 0;
  r |= set_str(&c->backend, "qemu");
  r |= set_str(&c->qemu_path, s390 ? "/usr/bin/qemu-system-s390x" : "/usr/bin/qemu-system-x86_64");
  r |= set_str(&c->kernel, s390 ? DEFAULT_GUEST_DIR "/veil-se.img" : DEFAULT_GUEST_DIR "/vmlinuz");
  r |= set_str(&c->initrd, s390 ? "" : DEFAULT_GUEST_DIR "/initrd.img");
  r |= set_str(&c->firmware, "");
  /* SE: the command line is sealed into the SE image's parmfile */
  r |= set_str(&c->kernel_params, s390 ? "" : "console=ttyS0 quiet panic=-1");
  r |= set_str(&c->machine_type, s390 ? "s390-ccw-virtio" : "q35");
  r |= set_str(&c->accel, tee ? "kvm" : "tcg");
  r |= set_str(&c->shared_fs, tee ? "none" : "9p");
  r |= set_str(&c->run_dir, "/run/veil");
  r |= set_str(&c->vcpu_type, "");
  r |= set_str(&c->id_block, "");
  r |= set_str(&c->id_auth, "");
  r |= set_str(&c->quote_generation_socket, "");
  r |= set_str(&c->qemu_user, "");
  r |= set_str(&c->libvirt_uri, "qemu:///system");
  r |= set_str(&c->agent_channel, "vsock");  /* every profile: kata-agent listens on vsock only */
  r |= set_str(&c->vhost_user_vsock_path, DEFAULT_VHOST_USER_VSOCK);
  if (r != 0 || c->enable_annotations == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  *out = steal_pointer(&c);
  return 0;
}

enum key_type { K_STR, K_UINT, K_U64, K_BOOL, K_STRV, K_PROFILE };

struct key_def {
  const char *name;
  enum key_type type;
  size_t offset;
  unsigned long long min, max; /* integers only */
};

#define F(field) offsetof(struct veil_config, field)
static const struct key_def keys[] = {
  { "profile", K_PROFILE, 0, 0, 0 },
  { "backend", K_STR, F(backend), 0, 0 },
  { "qemu_path", K_STR, F(qemu_path), 0, 0 },
  { "kernel", K_STR, F(kernel), 0, 0 },
  { "initrd", K_STR, F(initrd), 0, 0 },
  { "firmware", K_STR, F(firmware), 0, 0 },
  { "kernel_params", K_STR, F(kernel_params), 0, 0 },
  { "machine_type", K_STR, F(machine_type), 0, 0 },
  { "accel", K_STR, F(accel), 0, 0 },
  { "vcpus", K_UINT, F(vcpus), 1, 512 },
  { "memory_mb", K_UINT, F(memory_mb), 64, 4u * 1024 * 1024 },
  { "shared_fs", K_STR, F(shared_fs), 0, 0 },
  { "dial_timeout_s", K_UINT, F(dial_timeout_s), 1, 3600 },
  { "run_dir", K_STR, F(run_dir), 0, 0 },
  { "debug", K_BOOL, F(debug), 0, 0 },
  { "vcpu_type", K_STR, F(vcpu_type), 0, 0 },
  { "policy", K_U64, F(policy), 0, UINT64_MAX },
  { "guest_features", K_UINT, F(guest_features), 0, UINT32_MAX },
  { "kernel_hashes", K_BOOL, F(kernel_hashes), 0, 0 },
  { "id_block", K_STR, F(id_block), 0, 0 },
  { "id_auth", K_STR, F(id_auth), 0, 0 },
  { "author_key_enabled", K_BOOL, F(author_key_enabled), 0, 0 },
  { "quote_generation_socket", K_STR, F(quote_generation_socket), 0, 0 },
  { "cbitpos", K_UINT, F(cbitpos), 0, 63 },
  { "reduced_phys_bits", K_UINT, F(reduced_phys_bits), 0, 63 },
  { "hardening", K_BOOL, F(hardening), 0, 0 },
  { "qemu_user", K_STR, F(qemu_user), 0, 0 },
  { "libvirt_uri", K_STR, F(libvirt_uri), 0, 0 },
  { "agent_channel", K_STR, F(agent_channel), 0, 0 },
  { "vhost_user_vsock_path", K_STR, F(vhost_user_vsock_path), 0, 0 },
  { "enable_annotations", K_STRV, F(enable_annotations), 0, 0 },
};
#undef F

static const char *json_type_name(const json_t *v)
{
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "an object";
  case JSON_ARRAY: return "an array";
  case JSON_STRING: return "a string";
  case JSON_INTEGER: return "an integer";
  case JSON_REAL: return "a number";
  case JSON_TRUE:
  case JSON_FALSE: return "a boolean";
  case JSON_NULL: return "null";
  }
  return "unknown";
}

static int set_key(struct veil_config *c, const char *name, const struct key_def *k,
                   json_t *v, veil_error_t *err)
{
  char *base = (char *)c;
  switch (k->type) {
  case K_PROFILE:
    return 0; /* handled first */
  case K_STR: {
    if (!json_is_string(v))
      return veil_error_make(err, EINVAL, "config `%s`: key `%s` must be a string, not %s",
                             name, k->name, json_type_name(v));
    if (strlen(json_string_value(v)) != json_string_length(v))
      return veil_error_make(err, EINVAL, "config `%s`: key `%s` contains a NUL byte", name,
                             k->name);
    if (set_str((char **)(base + k->offset), json_string_value(v)) < 0)
      return veil_error_make(err, ENOMEM, "out of memory");
    return 0;
  }
  case K_BOOL:
    if (!json_is_boolean(v))
      return veil_error_make(err, EINVAL, "config `%s`: key `%s` must be true or false, not %s",
                             name, k->name, json_type_name(v));
    *(bool *)(base + k->offset) = json_is_true(v);
    return 0;
  case K_UINT:
  case K_U64: {
    if (!json_is_integer(v))
      return veil_error_make(err, EINVAL, "config `%s`: key `%s` must be an integer, not %s",
                             name, k->name, json_type_name(v));
    json_int_t n = json_integer_value(v);
    if (n < 0 || (unsigned long long)n < k->min || (unsigned long long)n > k->max)
      return veil_error_make(err, ERANGE, "config `%s`: key `%s` = %lld is out of range [%llu, %llu]",
                             name, k->name, (long long)n, k->min, k->max);
    if (k->type == K_UINT)
      *(unsigned *)(base + k->offset) = (unsigned)n;
    else
      *(unsigned long long *)(base + k->offset) = (unsigned long long)n;
    return 0;
  }
  case K_STRV: {
    if (!json_is_array(v))
      return veil_error_make(err, EINVAL, "config `%s`: key `%s` must be an array of strings, not %s",
                             name, k->name, json_type_name(v));
    size_t n = json_array_size(v);
    if (n > 256)
      return veil_error_make(err, E2BIG, "config `%s`: key `%s` has more than 256 entries", name,
                             k->name);
    cleanup_strv char **list = calloc(n + 1, sizeof(char *));
    if (list == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
      json_t *e = json_array_get(v, i);
      if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
        return veil_error_make(err, EINVAL, "config `%s`: key `%s`[%zu] must be a string", name,
                               k->name, i);
      if ((list[i] = strdup(json_string_value(e))) == NULL)
        return veil_error_make(err, ENOMEM, "out of memory");
    }
    char ***dst = (char ***)(base + k->offset);
    veil_cleanup_strvp(dst);
    *dst = steal_pointer(&list);
    return 0;
  }
  }
  return veil_error_make(err, EINVAL, "config `%s`: key `%s`: internal error", name, k->name);
}

static int one_of(const char *v, const char *const *allowed)
{
  for (; *allowed; allowed++)
    if (strcmp(v, *allowed) == 0)
      return 1;
  return 0;
}

static int absolute_or_empty(const char *path)
{
  return path[0] == '\0' || path[0] == '/';
}

/* Cross-field rules: what the QEMU backend could not run or would run insecurely. */
static int validate(const struct veil_config *c, const char *name, veil_error_t *err)
{
  static const char *const backends[] = { "qemu", "libvirt", NULL };
  static const char *const accels[] = { "tcg", "kvm", NULL };
  static const char *const fs[] = { "9p", "virtio-fs", "none", NULL };
  static const char *const channels[] = { "vsock", "virtio-serial", NULL };
  const char *prof = veil_profile_name(c->profile);
  if (!one_of(c->backend, backends))
    return veil_error_make(err, EINVAL, "config `%s`: key `backend` = `%s`: use \"qemu\" or \"libvirt\"",
                           name, c->backend);
  if (!one_of(c->accel, accels))
    return veil_error_make(err, EINVAL, "config `%s`: key `accel` = `%s`: use \"tcg\" or \"kvm\"", name,
                           c->accel);
  if (!one_of(c->shared_fs, fs))
    return veil_error_make(err, EINVAL,
                           "config `%s`: key `shared_fs` = `%s`: use \"9p\", \"virtio-fs\" or \"none\"",
                           name, c->shared_fs);
  if (!one_of(c->agent_channel, channels))
    return veil_error_make(err, EINVAL,
                           "config `%s`: key `agent_channel` = `%s`: use \"vsock\" or \"virtio-serial\"",
                           name, c->agent_channel);
  if (strcmp(c->shared_fs, "virtio-fs") == 0)
    return veil_error_make(err, ENOTSUP,
                           "config `%s`: key `shared_fs` = \"virtio-fs\" is not implemented: use \"9p\"",
                           name);
  const char *paths[][2] = { { "qemu_path", c->qemu_path }, { "kernel", c->kernel },
                             { "initrd", c->initrd },       { "firmware", c->firmware },
                             { "run_dir", c->run_dir },     { "id_block", c->id_block },
                             { "id_auth", c->id_auth },
                             { "vhost_user_vsock_path", c->vhost_user_vsock_path } };
  for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
    bool may_be_empty = i >= 2 && i != 4 && i != 7;
    if ((!may_be_empty && paths[i][1][0] == '\0') || !absolute_or_empty(paths[i][1]))
      return veil_error_make(err, EINVAL, "config `%s`: key `%s` = `%s` must be an absolute path",
                             name, paths[i][0], paths[i][1]);
  }
  if (c->machine_type[0] == '\0' || strpbrk(c->machine_type, ", "))
    return veil_error_make(err, EINVAL, "config `%s`: key `machine_type` = `%s` must be one machine name",
                           name, c->machine_type);
  if (strchr(c->vcpu_type, ' '))
    return veil_error_make(err, EINVAL, "config `%s`: key `vcpu_type` contains a space", name);
  if (veil_profile_is_tee(c->profile)) {
    if (strcmp(c->accel, "kvm") != 0)
      return veil_error_make(err, EINVAL,
                             "config `%s`: profile %s needs key `accel` = \"kvm\" (a TEE cannot run under TCG)",
                             name, prof);
    if (strcmp(c->shared_fs, "none") != 0)
      return veil_error_make(err, EINVAL,
                             "config `%s`: profile %s needs key `shared_fs` = \"none\" (host shares bypass "
                             "the TEE: pull images in the guest)", name, prof);
  }
  if (c->profile == VEIL_PROFILE_SEV && (c->policy & 0x4))
    return veil_error_make(err, EINVAL,
                           "config `%s`: key `policy` = 0x%llx sets bit 2 (SEV-ES): use profile sev-es",
                           name, c->policy);
  if (c->profile == VEIL_PROFILE_SEV_ES && !(c->policy & 0x4))
    return veil_error_make(err, EINVAL,
                           "config `%s`: key `policy` = 0x%llx lacks bit 2, which profile sev-es needs (e.g. 0x5)",
                           name, c->policy);
  if ((c->profile == VEIL_PROFILE_SEV || c->profile == VEIL_PROFILE_SEV_ES) && c->policy > 0xffffffffULL)
    return veil_error_make(err, ERANGE, "config `%s`: key `policy` = 0x%llx: SEV policies are 32-bit",
                           name, c->policy);
  if (c->profile == VEIL_PROFILE_SNP && !(c->policy & (1ULL << 17)))
    return veil_error_make(err, EINVAL,
                           "config `%s`: key `policy` = 0x%llx: SNP policy bit 17 is reserved and must be 1 "
                           "(e.g. 0x30000)", name, c->policy);
  if ((c->id_block[0] != '\0') != (c->id_auth[0] != '\0'))
    return veil_error_make(err, EINVAL, "config `%s`: keys `id_block` and `id_auth` must be set together",
                           name);
  if (c->id_block[0] && c->profile != VEIL_PROFILE_SNP)
    return veil_error_make(err, EINVAL, "config `%s`: key `id_block` applies to profile snp only", name);
  if (c->quote_generation_socket[0]) {
    if (c->profile != VEIL_PROFILE_TDX)
      return veil_error_make(err, EINVAL,
                             "config `%s`: key `quote_generation_socket` applies to profile tdx only", name);
    unsigned cid, port;
    char tail;
    const char *q = c->quote_generation_socket;
    bool ok = (strncmp(q, "unix:/", 6) == 0 && !strchr(q, ',')) ||
              sscanf(q, "vsock:%u:%u%c", &cid, &port, &tail) == 2;
    if (!ok)
      return veil_error_make(err, EINVAL,
                             "config `%s`: key `quote_generation_socket` = `%s`: use \"unix:/path\" or "
                             "\"vsock:CID:PORT\"", name, q);
  }
  const char *strs[][2] = { { "kernel", c->kernel }, { "initrd", c->initrd }, { "firmware", c->firmware },
                            { "id_block", c->id_block }, { "id_auth", c->id_auth },
                            { "run_dir", c->run_dir } };
  for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
    if (strchr(strs[i][1], ','))  /* QEMU option syntax would need escaping: refuse instead */
      return veil_error_make(err, EINVAL, "config `%s`: key `%s` = `%s` must not contain a comma", name,
                             strs[i][0], strs[i][1]);
  return 0;
}

int veil_config_parse(const char *name, const char *data, size_t len, struct veil_config **out,
                      veil_error_t *err)
{
  json_error_t jerr;
  cleanup_with(json_decref) json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
  if (root == NULL)
    return veil_error_make(err, EINVAL, "config `%s`: line %d column %d: %s", name, jerr.line,
                           jerr.column, jerr.text);
  if (!json_is_object(root))
    return veil_error_make(err, EINVAL, "config `%s`: must be a JSON object, not %s", name,
                           json_type_name(root));
  json_t *pv = json_object_get(root, "profile");
  if (pv == NULL)
    return veil_error_make(err, EINVAL,
                           "config `%s`: missing key `profile` (dev, sev, sev-es, snp, tdx or se)", name);
  enum veil_profile profile;
  if (!json_is_string(pv) || veil_profile_from_name(json_string_value(pv), &profile) < 0)
    return veil_error_make(err, EINVAL,
                           "config `%s`: key `profile` must be one of dev, sev, sev-es, snp, tdx, se", name);
  cleanup_with(veil_config_free) struct veil_config *c = NULL;
  if (veil_config_new_default(profile, &c, err) < 0)
    return -1;
  const char *key;
  json_t *v;
  json_object_foreach(root, key, v) {
    const struct key_def *k = NULL;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
      if (strcmp(keys[i].name, key) == 0)
        k = &keys[i];
    if (k == NULL)
      return veil_error_make(err, EINVAL, "config `%s`: unknown key `%s`", name, key);
    if (set_key(c, name, k, v, err) < 0)
      return -1;
  }
  if (validate(c, name, err) < 0)
    return -1;
  if ((c->path = strdup(name)) == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  *out = steal_pointer(&c);
  return 0;
}

int veil_config_load(const char *path, struct veil_config **out, veil_error_t *err)
{
  cleanup_free char *data = NULL;
  size_t len = 0;
  if (veil_read_file(path, CONFIG_MAX_SIZE, &data, &len, err) < 0)
    return veil_error_wrap(err, "load runtime config");
  return veil_config_parse(path, data, len, out, err);
}

int veil_config_resolve_path(const char *options_path, char **out, veil_error_t *err)
{
  const char *p = NULL;
  if (options_path && options_path[0])
    p = options_path;
  else if (getenv("VEIL_CONFIG") && getenv("VEIL_CONFIG")[0])
    p = getenv("VEIL_CONFIG");
  else if (access(DEFAULT_CONFIG_PATH, F_OK) == 0)
    p = DEFAULT_CONFIG_PATH;
  else
    p = VEIL_DATADIR "/veil/configs/dev.json"; /* installed by configs/meson.build */
  if ((*out = strdup(p)) == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  return 0;
}
