/* Runtime configuration (configs/<profile>.json), strictly validated.
 * Lookup order: runtime options ConfigPath -> $VEIL_CONFIG -> default path
 * (/etc/veil/configuration.json, then <prefix>/share/veil/configs/dev.json).
 * The hypervisor issue owns this file; the fields below are the ones the shim uses. */
#ifndef VEIL_HYPERVISOR_CONFIG_H
#define VEIL_HYPERVISOR_CONFIG_H

#include <stdbool.h>
#include "common/error.h"

enum veil_profile {
  VEIL_PROFILE_DEV,
  VEIL_PROFILE_SEV,
  VEIL_PROFILE_SEV_ES,
  VEIL_PROFILE_SNP,
  VEIL_PROFILE_TDX,
  VEIL_PROFILE_SE,
};

struct veil_config {
  char *path;               /* file it was loaded from */
  enum veil_profile profile;
  char *backend;            /* "qemu" | "libvirt" */
  char *qemu_path;
  char *kernel;
  char *initrd;
  char *firmware;           /* NULL = select from QEMU firmware descriptors (TEE profiles) */
  char *kernel_params;
  char *machine_type;
  char *accel;              /* "tcg" | "kvm" */
  unsigned vcpus;
  unsigned memory_mb;
  char *shared_fs;          /* "9p" | "virtio-fs" | "none" (TEE profiles: none) */
  unsigned dial_timeout_s;  /* agent dial timeout */
  char *run_dir;            /* default /run/veil */
  bool debug;
  /* profile-specific and hardening fields are added by the hypervisor issue */
};

/* Which config file to use: options_path (runtime options ConfigPath) if set, else
 * $VEIL_CONFIG, else the default path. *out is malloc'd. */
int veil_config_resolve_path(const char *options_path, char **out, veil_error_t *err);
int veil_config_load(const char *path, struct veil_config **out, veil_error_t *err);
void veil_config_free(struct veil_config *c);
const char *veil_profile_name(enum veil_profile p);

#endif
