/* What a QEMU binary can do: version, user-creatable object types, machines, seccomp.
 * Probed by running the binary (-version, -object help, -machine help, -help), cached per
 * binary path + mtime for the life of the process. */
#ifndef VEIL_HYPERVISOR_QEMU_CAPS_H
#define VEIL_HYPERVISOR_QEMU_CAPS_H

#include <stdbool.h>

#include "common/error.h"
#include "hypervisor/config.h"

struct veil_qemu_caps {
  char *path;
  unsigned major, minor, micro;
  char **objects;   /* "sev-guest", "tdx-guest", ... */
  char **machines;  /* "q35", "pc-q35-7.2", ... (aliases included) */
  bool sandbox;     /* built with seccomp (-sandbox) */
};

/* Probe (or return the cached result for) the binary at path. The result is owned by
 * the cache: do not free it. */
int veil_qemu_caps_get(const char *path, const struct veil_qemu_caps **out, veil_error_t *err);
/* Parse the three outputs (pure, for tests). */
int veil_qemu_caps_parse(const char *version_out, const char *object_out, const char *machine_out,
                         const char *help_out, struct veil_qemu_caps *caps, veil_error_t *err);
void veil_qemu_caps_clear(struct veil_qemu_caps *caps);
bool veil_qemu_caps_has_object(const struct veil_qemu_caps *caps, const char *type);
bool veil_qemu_caps_has_machine(const struct veil_qemu_caps *caps, const char *machine);
/* Can this binary run the config's profile (object type present, machine known)? The error
 * names the QEMU version that added what is missing. */
int veil_qemu_caps_check_profile(const struct veil_qemu_caps *caps, const struct veil_config *cfg,
                                 veil_error_t *err);
/* Object type, minimum version for a TEE profile (NULL for dev). */
const char *veil_profile_qemu_object(enum veil_profile p, const char **min_version);

#endif
