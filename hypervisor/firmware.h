/* Firmware selection from QEMU firmware descriptors (docs/interop/firmware.json):
 * the first descriptor (by file name; /etc overrides /usr/share) whose features name the TEE
 * and whose mapping fits it: memory (-bios) for SNP and TDX, flash (read-only pflash) for
 * SEV/SEV-ES. When none fits, the error lists each descriptor and why it was rejected. */
#ifndef VEIL_HYPERVISOR_FIRMWARE_H
#define VEIL_HYPERVISOR_FIRMWARE_H

#include "common/error.h"
#include "hypervisor/config.h"

enum veil_fw_mapping { VEIL_FW_FLASH, VEIL_FW_MEMORY };

/* The mapping a TEE needs. */
enum veil_fw_mapping veil_tee_fw_mapping(enum veil_tee tee);
/* The descriptor feature naming a TEE ("amd-sev-snp", ...). */
const char *veil_tee_fw_feature(enum veil_tee tee);
/* dirs: NULL-terminated descriptor directories, or NULL for <root>/etc/qemu/firmware and
 * <root>/usr/share/qemu/firmware (root NULL = "/"). *path is malloc'd. */
int veil_firmware_select(const char *const *dirs, const char *root, enum veil_tee tee, char **path,
                         enum veil_fw_mapping *mapping, veil_error_t *err);
/* Check one parsed descriptor (a JSON text) against a TEE: NULL = fits (and *exe set), else a
 * static reason. Exposed for the descriptor fuzzer. */
int veil_firmware_descriptor_check(const char *json, size_t len, enum veil_tee tee, char **exe,
                                   char **reason);

#endif
