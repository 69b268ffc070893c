/* The TEEs veil launches (every profile but dev runs on one). Vocabulary shared by the
 * runtime config (hypervisor/config.h: veil_profile_tee), firmware selection, the host probe,
 * measure/ and the initdata binding rule (common/initdata_image.h), which is why it lives
 * here and not in one of them. */
#ifndef VEIL_COMMON_TEE_H
#define VEIL_COMMON_TEE_H

enum veil_tee { VEIL_TEE_SEV, VEIL_TEE_SEV_ES, VEIL_TEE_SNP, VEIL_TEE_TDX, VEIL_TEE_SE, VEIL_TEE_COUNT };

/* "sev", "sev-es", "snp", "tdx", "se"; "unknown" out of range. */
const char *veil_tee_name(enum veil_tee t);

#endif
