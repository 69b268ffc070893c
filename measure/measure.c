/* Launch measurements per mode (see measure.h). */
#include "measure/measure.h"

#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "measure/measure_tdx.h"
#include "measure/ovmf.h"
#include "measure/sev_hashes.h"
#include "measure/snp_gctx.h"
#include "measure/tdvf.h"
#include "measure/vmsa.h"

enum { PAGE = 4096 };
#define FOUR_GIB (UINT64_C(1) << 32)

static const char *const mode_names[] = {
  [VEIL_MEASURE_SEV] = "sev",
  [VEIL_MEASURE_SEV_ES] = "seves",
  [VEIL_MEASURE_SNP] = "snp",
  [VEIL_MEASURE_TDX] = "tdx",
};

const char *veil_measure_mode_name(enum veil_measure_mode m)
{
  return (unsigned)m < sizeof(mode_names) / sizeof(mode_names[0]) ? mode_names[m] : "?";
}

int veil_measure_mode_parse(const char *name, enum veil_measure_mode *out)
{
  for (size_t i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++)
    if (strcmp(name, mode_names[i]) == 0) {
      *out = (enum veil_measure_mode)i;
      return 0;
    }
  return -1;
}

static int check_vcpus(unsigned vcpus, veil_error_t *err)
{
  if (vcpus < 1 || vcpus > VEIL_MEASURE_MAX_VCPUS)
    return veil_error_make(err, EINVAL, "vCPU count %u out of range (1-%u)", vcpus,
                           VEIL_MEASURE_MAX_VCPUS);
  return 0;
}

/* The BSP starts at the reset vector, APs at the firmware's SEV-ES reset block. */
static int vmsa_eips(const struct veil_ovmf *o, unsigned vcpus, uint32_t *ap_eip, veil_error_t *err)
{
  if (veil_ovmf_sev_es_reset_eip(o, ap_eip, err) < 0)
    return -1;
  if (vcpus > 1 && *ap_eip == 0)
    return veil_error_make(err, EINVAL, "firmware's SEV-ES reset block has AP EIP 0: it cannot "
                           "start more than one vCPU");
  return 0;
}

int veil_measure_sev_buf(const uint8_t *fw, size_t fw_len, const uint8_t *hashes_table,
                         bool with_vmsas, unsigned vcpus, uint32_t vcpu_sig, uint8_t out[32],
                         veil_error_t *err)
{
  struct veil_ovmf o;
  if (veil_ovmf_parse(fw, fw_len, &o, err) < 0)
    return veil_error_wrap(err, "parse firmware");
  int rc = -1;
  uint32_t gpa, ap_eip = 0;
  if (hashes_table && (!veil_ovmf_sev_hashes_table_gpa(&o, &gpa) || gpa == 0)) {
    veil_error_make(err, EINVAL, "a kernel was given but the firmware has no SEV hashes table "
                    "(kernel-hashes needs an AmdSev OVMF build)");
    goto out;
  }
  if (with_vmsas && (check_vcpus(vcpus, err) < 0 || vmsa_eips(&o, vcpus, &ap_eip, err) < 0))
    goto out;
  EVP_MD_CTX *h = EVP_MD_CTX_new();
  int ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) && EVP_DigestUpdate(h, fw, fw_len);
  if (ok && hashes_table)
    ok = EVP_DigestUpdate(h, hashes_table, VEIL_SEV_HASHES_PADDED_SIZE);
  uint8_t page[PAGE];
  for (unsigned i = 0; ok && with_vmsas && i < vcpus; i++) {
    veil_vmsa_build(page, i == 0 ? VEIL_VMSA_BSP_EIP : ap_eip, 0, vcpu_sig);
    ok = EVP_DigestUpdate(h, page, PAGE);
  }
  ok = ok && EVP_DigestFinal_ex(h, out, NULL);
  EVP_MD_CTX_free(h);
  if (!ok) {
    veil_error_make(err, EIO, "SHA-256 failed");
    goto out;
  }
  rc = 0;
out:
  veil_ovmf_release(&o);
  return rc;
}

static int snp_section(struct veil_snp_gctx *g, const struct veil_ovmf *o,
                       const struct veil_sev_section *s, const uint8_t *hashes_table,
                       veil_error_t *err)
{
  if (s->type != VEIL_SEV_SECTION_SNP_SECRETS && s->type != VEIL_SEV_SECTION_CPUID && s->size % PAGE)
    return veil_error_make(err, EINVAL, "corrupt SEV metadata: section at 0x%x has size 0x%x, "
                           "not a multiple of 4 KiB", s->gpa, s->size);
  switch (s->type) {
  case VEIL_SEV_SECTION_SNP_SEC_MEM:
  case VEIL_SEV_SECTION_SVSM_CAA:
    return veil_snp_update_empty(g, VEIL_SNP_PAGE_ZERO, s->gpa, s->size);
  case VEIL_SEV_SECTION_SNP_SECRETS:
    return veil_snp_update_empty(g, VEIL_SNP_PAGE_SECRETS, s->gpa, PAGE);
  case VEIL_SEV_SECTION_CPUID:
    return veil_snp_update_empty(g, VEIL_SNP_PAGE_CPUID, s->gpa, PAGE);
  case VEIL_SEV_SECTION_SNP_KERNEL_HASHES: {
    if (!hashes_table)
      return veil_snp_update_empty(g, VEIL_SNP_PAGE_ZERO, s->gpa, s->size);
    uint32_t table_gpa;
    if (!veil_ovmf_sev_hashes_table_gpa(o, &table_gpa))
      return veil_error_make(err, EINVAL, "firmware has a kernel-hashes section but no SEV "
                             "hashes table entry in its OVMF footer table");
    size_t off = table_gpa & (PAGE - 1);
    if (s->size != PAGE || off + VEIL_SEV_HASHES_PADDED_SIZE > PAGE)
      return veil_error_make(err, EINVAL, "corrupt SEV metadata: the SEV hashes table (page "
                             "offset 0x%zx) does not fit in the 0x%x-byte kernel-hashes section",
                             off, s->size);
    uint8_t page[PAGE] = { 0 };
    memcpy(page + off, hashes_table, VEIL_SEV_HASHES_PADDED_SIZE);
    return veil_snp_update_normal(g, s->gpa, page, PAGE);
  }
  default:
    return veil_error_make(err, EINVAL, "unknown SEV metadata section type 0x%x in firmware",
                           s->type);
  }
}

int veil_measure_snp_buf(const uint8_t *fw, size_t fw_len, const uint8_t *hashes_table,
                         unsigned vcpus, uint32_t vcpu_sig, uint64_t guest_features,
                         uint8_t out[48], veil_error_t *err)
{
  if (fw_len % PAGE || fw_len == 0 || fw_len > FOUR_GIB)
    return veil_error_make(err, EINVAL, "firmware size %zu is not a multiple of 4 KiB", fw_len);
  if (check_vcpus(vcpus, err) < 0)
    return -1;
  struct veil_ovmf o;
  if (veil_ovmf_parse(fw, fw_len, &o, err) < 0)
    return veil_error_wrap(err, "parse firmware");
  int rc = -1;
  uint32_t ap_eip;
  if (vmsa_eips(&o, vcpus, &ap_eip, err) < 0)
    goto out;
  if (hashes_table && !veil_ovmf_has_section(&o, VEIL_SEV_SECTION_SNP_KERNEL_HASHES)) {
    veil_error_make(err, EINVAL, "a kernel was given but the firmware's SEV metadata has no "
                    "SNP_KERNEL_HASHES section (kernel-hashes needs an AmdSev OVMF build)");
    goto out;
  }
  struct veil_snp_gctx g;
  veil_snp_gctx_init(&g);
  if (veil_snp_update_normal(&g, FOUR_GIB - fw_len, fw, fw_len) < 0)
    goto crypto;
  for (size_t i = 0; i < o.n_sections; i++)
    if (snp_section(&g, &o, &o.sections[i], hashes_table, err) < 0) {
      if (!*err)
        goto crypto;
      goto out;
    }
  uint8_t page[PAGE];
  for (unsigned i = 0; i < vcpus; i++) {
    veil_vmsa_build(page, i == 0 ? VEIL_VMSA_BSP_EIP : ap_eip, guest_features, vcpu_sig);
    if (veil_snp_update_vmsa(&g, page) < 0)
      goto crypto;
  }
  memcpy(out, g.ld, VEIL_SNP_LD_SIZE);
  rc = 0;
  goto out;
crypto:
  veil_error_make(err, EIO, "SHA-384 failed");
out:
  veil_ovmf_release(&o);
  return rc;
}

int veil_measure_mrtd_buf(const uint8_t *fw, size_t fw_len, bool two_pass, uint8_t out[48],
                          veil_error_t *err)
{
  struct veil_ovmf o;
  struct veil_tdvf t;
  if (veil_ovmf_parse(fw, fw_len, &o, err) < 0)
    return veil_error_wrap(err, "parse firmware");
  int rc = veil_tdvf_parse(&o, &t, err);
  if (rc == 0) {
    rc = veil_tdvf_mrtd(&t, two_pass, out, err);
    veil_tdvf_release(&t);
  }
  veil_ovmf_release(&o);
  return rc;
}

int veil_measure(const struct veil_measure_input *in, struct veil_measure_result *out,
                 veil_error_t *err)
{
  *out = (struct veil_measure_result){ .mode = in->mode };
  if (!in->firmware)
    return veil_error_make(err, EINVAL, "no firmware given: %s measurements start from the "
                           "firmware image", veil_measure_mode_name(in->mode));
  if (in->initrd && !in->kernel)
    return veil_error_make(err, EINVAL, "an initrd was given without a kernel");
  cleanup_free char *fw = NULL;
  size_t fw_len = 0;
  if (veil_read_file(in->firmware, VEIL_MEASURE_MAX_FIRMWARE, &fw, &fw_len, err) < 0)
    return veil_error_wrap(err, "read firmware");
  uint8_t table[VEIL_SEV_HASHES_PADDED_SIZE];
  bool direct = in->kernel != NULL;
  if (direct && in->mode != VEIL_MEASURE_TDX &&
      veil_sev_hashes_table(in->kernel, in->initrd, in->cmdline, table, err) < 0)
    return -1;
  const uint8_t *image = (const uint8_t *)fw;
  int rc;
  switch (in->mode) {
  case VEIL_MEASURE_SEV:
  case VEIL_MEASURE_SEV_ES:
    out->digest_len = 32;
    rc = veil_measure_sev_buf(image, fw_len, direct ? table : NULL,
                              in->mode == VEIL_MEASURE_SEV_ES, in->vcpus, in->vcpu_sig,
                              out->digest, err);
    break;
  case VEIL_MEASURE_SNP:
    out->digest_len = 48;
    rc = veil_measure_snp_buf(image, fw_len, direct ? table : NULL, in->vcpus, in->vcpu_sig,
                              in->guest_features, out->digest, err);
    break;
  case VEIL_MEASURE_TDX:
    out->digest_len = 48;
    rc = veil_measure_mrtd_buf(image, fw_len, in->tdx_two_pass, out->digest, err);
    if (rc == 0 && direct)
      rc = veil_measure_tdx_rtmrs(in->kernel, in->initrd, in->cmdline, out, err);
    break;
  default:
    return veil_error_make(err, EINVAL, "unknown measurement mode %d", (int)in->mode);
  }
  if (rc < 0)
    return veil_error_wrap(err, "%s measurement of `%s`", veil_measure_mode_name(in->mode),
                           in->firmware);
  return 0;
}
