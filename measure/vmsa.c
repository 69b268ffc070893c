/* VMSA page builder and AMD vCPU signatures (see vmsa.h). Offsets are those of the
 * SEV-ES save area (AMD APM vol. 2 table B-4; Linux struct sev_es_save_area). */
#include "measure/vmsa.h"

#include <string.h>

#include "measure/measure_bytes.h"

enum {
  OFF_ES = 0x00, OFF_CS = 0x10, OFF_SS = 0x20, OFF_DS = 0x30, OFF_FS = 0x40, OFF_GS = 0x50,
  OFF_GDTR = 0x60, OFF_LDTR = 0x70, OFF_IDTR = 0x80, OFF_TR = 0x90,
  OFF_EFER = 0xd0, OFF_CR4 = 0x148, OFF_CR0 = 0x158, OFF_DR7 = 0x160, OFF_DR6 = 0x168,
  OFF_RFLAGS = 0x170, OFF_RIP = 0x178, OFF_G_PAT = 0x268, OFF_RDX = 0x310,
  OFF_SEV_FEATURES = 0x3b0, OFF_XCR0 = 0x3e8, OFF_MXCSR = 0x408, OFF_X87_FCW = 0x410,
};

/* struct vmcb_seg: u16 selector, u16 attrib, u32 limit, u64 base */
static void put_seg(uint8_t *p, uint16_t sel, uint16_t attrib, uint32_t limit, uint64_t base)
{
  veil_put_le16(p, sel);
  veil_put_le16(p + 2, attrib);
  veil_put_le32(p + 4, limit);
  veil_put_le64(p + 8, base);
}

void veil_vmsa_build(uint8_t page[4096], uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig)
{
  memset(page, 0, 4096);
  put_seg(page + OFF_ES, 0, 0x93, 0xffff, 0);
  put_seg(page + OFF_CS, 0xf000, 0x9b, 0xffff, eip & 0xffff0000u);
  put_seg(page + OFF_SS, 0, 0x93, 0xffff, 0);
  put_seg(page + OFF_DS, 0, 0x93, 0xffff, 0);
  put_seg(page + OFF_FS, 0, 0x93, 0xffff, 0);
  put_seg(page + OFF_GS, 0, 0x93, 0xffff, 0);
  put_seg(page + OFF_GDTR, 0, 0, 0xffff, 0);
  put_seg(page + OFF_LDTR, 0, 0x82, 0xffff, 0);
  put_seg(page + OFF_IDTR, 0, 0, 0xffff, 0);
  put_seg(page + OFF_TR, 0, 0x8b, 0xffff, 0);
  veil_put_le64(page + OFF_EFER, 0x1000); /* KVM sets EFER.SVME */
  veil_put_le64(page + OFF_CR4, 0x40);    /* KVM sets CR4.MCE */
  veil_put_le64(page + OFF_CR0, 0x10);
  veil_put_le64(page + OFF_DR7, 0x400);
  veil_put_le64(page + OFF_DR6, 0xffff0ff0);
  veil_put_le64(page + OFF_RFLAGS, 0x2);
  veil_put_le64(page + OFF_RIP, eip & 0xffff);
  veil_put_le64(page + OFF_G_PAT, UINT64_C(0x0007040600070406));
  veil_put_le64(page + OFF_RDX, vcpu_sig);
  veil_put_le64(page + OFF_SEV_FEATURES, sev_features);
  veil_put_le64(page + OFF_XCR0, 0x1);
  veil_put_le32(page + OFF_MXCSR, 0x1f80); /* QEMU syncs FPU state into the VMSA (KVM_SEV_INIT2) */
  veil_put_le16(page + OFF_X87_FCW, 0x37f);
}

uint32_t veil_vcpu_sig(unsigned family, unsigned model, unsigned stepping)
{
  unsigned fam_lo = family > 0xf ? 0xf : family;
  unsigned fam_hi = family > 0xf ? (family - 0xf) & 0xff : 0;
  return (fam_hi << 20) | (((model >> 4) & 0xf) << 16) | (fam_lo << 8) | ((model & 0xf) << 4) |
         (stepping & 0xf);
}

static const struct {
  const char *name;
  unsigned family, model, stepping;
} cpu_models[] = { /* QEMU builtin_x86_defs */
  { "EPYC", 23, 1, 2 },       { "EPYC-v1", 23, 1, 2 },       { "EPYC-v2", 23, 1, 2 },
  { "EPYC-IBPB", 23, 1, 2 },  { "EPYC-v3", 23, 1, 2 },       { "EPYC-v4", 23, 1, 2 },
  { "EPYC-Rome", 23, 49, 0 }, { "EPYC-Rome-v1", 23, 49, 0 }, { "EPYC-Rome-v2", 23, 49, 0 },
  { "EPYC-Rome-v3", 23, 49, 0 }, { "EPYC-Milan", 25, 1, 1 }, { "EPYC-Milan-v1", 25, 1, 1 },
  { "EPYC-Milan-v2", 25, 1, 1 }, { "EPYC-Genoa", 25, 17, 0 }, { "EPYC-Genoa-v1", 25, 17, 0 },
  { "EPYC-Turin", 26, 0, 0 },
};

int veil_vcpu_sig_by_name(const char *name, uint32_t *sig)
{
  for (size_t i = 0; i < sizeof(cpu_models) / sizeof(cpu_models[0]); i++)
    if (strcmp(cpu_models[i].name, name) == 0) {
      *sig = veil_vcpu_sig(cpu_models[i].family, cpu_models[i].model, cpu_models[i].stepping);
      return 0;
    }
  return -1;
}
