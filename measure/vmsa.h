/* Initial SEV-ES/SEV-SNP VMSA (VMCB save area) of a vCPU as QEMU/KVM create it, and the
 * vCPU signature of QEMU's AMD CPU models (sev-snp-measure vmsa.py, vcpu_types.py). */
#ifndef VEIL_MEASURE_VMSA_H
#define VEIL_MEASURE_VMSA_H

#include <stddef.h>
#include <stdint.h>

#define VEIL_VMSA_BSP_EIP UINT32_C(0xfffffff0)

/* Fill page (4096 bytes) with the VMSA of a vCPU starting at eip (CS base = eip & 0xffff0000,
 * RIP = eip & 0xffff), with the given SEV features and CPUID signature in RDX. */
void veil_vmsa_build(uint8_t page[4096], uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig);

/* CPUID Fn0000_0001_EAX signature from family/model/stepping. */
uint32_t veil_vcpu_sig(unsigned family, unsigned model, unsigned stepping);
/* Signature of a QEMU CPU model name (EPYC, EPYC-v4, EPYC-Rome, EPYC-Milan, EPYC-Genoa,
 * EPYC-Turin and their -vN aliases); -1 if unknown. */
int veil_vcpu_sig_by_name(const char *name, uint32_t *sig);

#endif
