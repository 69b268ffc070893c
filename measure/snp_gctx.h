/* SEV-SNP guest context: the launch digest updated once per page with a PAGE_INFO
 * structure (SNP firmware ABI, "PAGE_INFO"; sev-snp-measure gctx.py). */
#ifndef VEIL_MEASURE_SNP_GCTX_H
#define VEIL_MEASURE_SNP_GCTX_H

#include <stddef.h>
#include <stdint.h>

#define VEIL_SNP_LD_SIZE 48
#define VEIL_SNP_VMSA_GPA UINT64_C(0xFFFFFFFFF000)

enum veil_snp_page_type {
  VEIL_SNP_PAGE_NORMAL = 1,
  VEIL_SNP_PAGE_VMSA = 2,
  VEIL_SNP_PAGE_ZERO = 3,
  VEIL_SNP_PAGE_UNMEASURED = 4,
  VEIL_SNP_PAGE_SECRETS = 5,
  VEIL_SNP_PAGE_CPUID = 6,
};

struct veil_snp_gctx {
  uint8_t ld[VEIL_SNP_LD_SIZE];
};

void veil_snp_gctx_init(struct veil_snp_gctx *g);
/* Each returns 0, or -1 if OpenSSL failed. Lengths are multiples of 4096 (callers check). */
int veil_snp_update_normal(struct veil_snp_gctx *g, uint64_t gpa, const uint8_t *data, size_t len);
int veil_snp_update_vmsa(struct veil_snp_gctx *g, const uint8_t page[4096]);
/* ZERO, UNMEASURED, SECRETS, CPUID: contents are all zero, one update per page. */
int veil_snp_update_empty(struct veil_snp_gctx *g, enum veil_snp_page_type type, uint64_t gpa,
                          size_t len);

#endif
