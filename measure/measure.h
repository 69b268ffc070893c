/* Expected launch measurements of confidential VMs, computed on the host before launch:
 *   SEV      SHA-256(firmware || [padded SEV hashes table])
 *   SEV-ES   SHA-256(firmware || [hashes table] || VMSA per vCPU)
 *   SEV-SNP  the SNP launch digest (SHA-384 PAGE_INFO chain) = MEASUREMENT in the report
 *   TDX      MRTD from the TDVF metadata, and RTMR1/RTMR2 for direct kernel boot
 * The algorithms are those of virtee/sev-snp-measure and virtee/tdx-measure; see
 * docs/measure.md for what is and is not covered. */
#ifndef VEIL_MEASURE_MEASURE_H
#define VEIL_MEASURE_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/error.h"
#include "hypervisor/config.h"

enum veil_measure_mode {
  VEIL_MEASURE_SEV,
  VEIL_MEASURE_SEV_ES,
  VEIL_MEASURE_SNP,
  VEIL_MEASURE_TDX,
};

/* Largest firmware image accepted (OVMF builds are 2-4 MiB). */
#define VEIL_MEASURE_MAX_FIRMWARE (64u << 20)
#define VEIL_MEASURE_MAX_VCPUS 4096u

struct veil_measure_input {
  enum veil_measure_mode mode;
  const char *firmware;     /* required */
  const char *kernel;       /* NULL: no direct boot (no SEV hashes table / RTMR1-2) */
  const char *initrd;       /* NULL: none */
  const char *cmdline;      /* NULL: empty */
  unsigned vcpus;           /* SEV-ES, SNP: >= 1 */
  uint32_t vcpu_sig;        /* SEV-ES, SNP: CPUID signature of the vCPU model */
  uint64_t guest_features;  /* SNP: VMSA sev_features (e.g. 0x1 SNPActive, 0x21 +DebugSwap) */
  bool tdx_two_pass;        /* TDX: older "two pass" page-add order for MRTD */
};

struct veil_measure_result {
  enum veil_measure_mode mode;
  size_t digest_len;        /* 32 (SEV, SEV-ES) or 48 (SNP, TDX MRTD) */
  uint8_t digest[48];
  bool has_rtmr1, has_rtmr2; /* TDX direct boot only */
  uint8_t rtmr1[48], rtmr2[48];
};

const char *veil_measure_mode_name(enum veil_measure_mode m); /* "sev", "seves", "snp", "tdx" */
int veil_measure_mode_parse(const char *name, enum veil_measure_mode *out);

/* Files -> result. Errors name the failing input (missing file, corrupt firmware, ...). */
int veil_measure(const struct veil_measure_input *in, struct veil_measure_result *out,
                 veil_error_t *err);

/* In-memory cores (also used by the fuzz targets). hashes_table is the 176-byte padded SEV
 * hashes table, or NULL when no kernel is measured. */
int veil_measure_sev_buf(const uint8_t *fw, size_t fw_len, const uint8_t *hashes_table,
                         bool with_vmsas, unsigned vcpus, uint32_t vcpu_sig, uint8_t out[32],
                         veil_error_t *err);
int veil_measure_snp_buf(const uint8_t *fw, size_t fw_len, const uint8_t *hashes_table,
                         unsigned vcpus, uint32_t vcpu_sig, uint64_t guest_features,
                         uint8_t out[48], veil_error_t *err);
int veil_measure_mrtd_buf(const uint8_t *fw, size_t fw_len, bool two_pass, uint8_t out[48],
                          veil_error_t *err);

/* What the shim records for a VM it launches (written as <state dir>/measurement.json):
 * the expected values for this config with `vcpus` vCPUs (0 = config default), and the
 * initdata digest if any. For the dev profile the object says that there is no TEE. */
int veil_measure_for_launch(const struct veil_config *cfg, unsigned vcpus,
                            const uint8_t *initdata_digest, size_t initdata_digest_len,
                            json_t **out, veil_error_t *err);

#endif
