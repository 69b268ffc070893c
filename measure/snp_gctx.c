/* SEV-SNP launch digest primitive (see snp_gctx.h). */
#include "measure/snp_gctx.h"

#include <string.h>

#include <openssl/evp.h>

#include "measure/measure_bytes.h"

enum { PAGE = 4096, PAGE_INFO_SIZE = 0x70 };

static int sha384(const uint8_t *data, size_t len, uint8_t out[VEIL_SNP_LD_SIZE])
{
  return EVP_Digest(data, len, out, NULL, EVP_sha384(), NULL) ? 0 : -1;
}

void veil_snp_gctx_init(struct veil_snp_gctx *g)
{
  memset(g->ld, 0, sizeof(g->ld));
}

/* PAGE_INFO: LD[48] CONTENTS[48] u16 length u8 page_type u8 is_imi u8 vmpl3/2/1 perms
 * u8 reserved u64 gpa; LD = SHA-384(PAGE_INFO). */
static int update(struct veil_snp_gctx *g, uint8_t type, uint64_t gpa,
                  const uint8_t contents[VEIL_SNP_LD_SIZE])
{
  uint8_t info[PAGE_INFO_SIZE] = { 0 };
  memcpy(info, g->ld, VEIL_SNP_LD_SIZE);
  memcpy(info + 48, contents, VEIL_SNP_LD_SIZE);
  veil_put_le16(info + 96, PAGE_INFO_SIZE);
  info[98] = type;
  veil_put_le64(info + 104, gpa);
  return sha384(info, sizeof(info), g->ld);
}

int veil_snp_update_normal(struct veil_snp_gctx *g, uint64_t gpa, const uint8_t *data, size_t len)
{
  uint8_t digest[VEIL_SNP_LD_SIZE];
  for (size_t off = 0; off + PAGE <= len; off += PAGE)
    if (sha384(data + off, PAGE, digest) < 0 || update(g, VEIL_SNP_PAGE_NORMAL, gpa + off, digest) < 0)
      return -1;
  return 0;
}

int veil_snp_update_vmsa(struct veil_snp_gctx *g, const uint8_t page[4096])
{
  uint8_t digest[VEIL_SNP_LD_SIZE];
  if (sha384(page, PAGE, digest) < 0)
    return -1;
  return update(g, VEIL_SNP_PAGE_VMSA, VEIL_SNP_VMSA_GPA, digest);
}

int veil_snp_update_empty(struct veil_snp_gctx *g, enum veil_snp_page_type type, uint64_t gpa,
                          size_t len)
{
  static const uint8_t zeros[VEIL_SNP_LD_SIZE];
  for (size_t off = 0; off + PAGE <= len; off += PAGE)
    if (update(g, (uint8_t)type, gpa + off, zeros) < 0)
      return -1;
  return 0;
}
