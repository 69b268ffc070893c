/* Runtime configuration (configs/<profile>.json), strictly validated.
 * Lookup order: runtime options ConfigPath -> $VEIL_CONFIG -> default path
 * (/etc/veil/configuration.json, then <prefix>/share/veil/configs/dev.json).
 * The hypervisor issue owns this file; the fields below are the ones the shim uses. */
#ifndef VEIL_HYPERVISOR_CONFIG_H
#define VEIL_HYPERVISOR_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "common/error.h"
#include "common/tee.h"

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
  char *vcpu_type;          /* -cpu model; "" = profile default (host; EPYC-v4 for snp) */
  unsigned long long policy;/* SEV/SEV-ES guest policy or SNP policy (e.g. 0x30000) */
  unsigned guest_features;  /* SNP VMSA SEV_FEATURES the measurement assumes (0x1) */
  bool kernel_hashes;       /* SEV/SNP: measure kernel/initrd/cmdline via OVMF hashes table */
  char *id_block;           /* SNP: file with the 96-byte ID block, "" = none */
  char *id_auth;            /* SNP: file with the 4096-byte ID auth info, "" = none */
  bool author_key_enabled;  /* SNP: id_auth carries an author key */
  char *quote_generation_socket; /* TDX: "unix:/path" or "vsock:CID:PORT", "" = none */
  unsigned cbitpos;         /* SEV*: 0 = from CPUID 0x8000001F */
  unsigned reduced_phys_bits; /* SEV*: 0 = from CPUID 0x8000001F */
  bool hardening;           /* -sandbox, capability drop (default on) */
  char *qemu_user;          /* run QEMU as this user, "" = same user, capabilities dropped */
  char *libvirt_uri;        /* libvirt backend connection URI */
  char *agent_channel;      /* "vsock" (vhost-vsock, else hybrid vsock) | "virtio-serial" */
  char *vhost_user_vsock_path; /* vhost-device-vsock, the hybrid-vsock backend */
  char **enable_annotations;/* NULL-terminated list of annotation names the shim honours */
};

/* The strict JSON parser behind veil_config_load, on a buffer (fuzzed). `name` is used in
 * error messages (the file path). */
int veil_config_parse(const char *name, const char *data, size_t len, struct veil_config **out,
                      veil_error_t *err);
/* Defaults for a profile (as documented in docs/hypervisor.md). */
int veil_config_new_default(enum veil_profile profile, struct veil_config **out, veil_error_t *err);
int veil_profile_from_name(const char *name, enum veil_profile *out);
bool veil_profile_is_tee(enum veil_profile p);
/* The TEE a profile runs on (false for dev). */
bool veil_profile_tee(enum veil_profile p, enum veil_tee *out);

/* Which config file to use: options_path (runtime options ConfigPath) if set, else
 * $VEIL_CONFIG, else the default path. *out is malloc'd. */
int veil_config_resolve_path(const char *options_path, char **out, veil_error_t *err);
int veil_config_load(const char *path, struct veil_config **out, veil_error_t *err);
void veil_config_free(struct veil_config *c);
const char *veil_profile_name(enum veil_profile p);

#endif
