/* TDX runtime measurement registers for direct kernel boot (virtee/tdx-measure kernel.rs):
 *   RTMR1 = extend(Authenticode-SHA384(kernel PE), "Calling EFI Application from Boot
 *           Option", separator, "Exit Boot Services Invocation", "... Returned with Success")
 *   RTMR2 = extend(SHA384(UTF-16LE(cmdline + " initrd=initrd") || 00 00), SHA384(initrd))
 * RTMR1 assumes OVMF >= edk2-stable202505 (the raw PE is measured; older TDVF measured the
 * kernel after QEMU patched its setup header). RTMR0 is not computed: it covers QEMU's ACPI
 * tables, which depend on the whole device configuration. */
#ifndef VEIL_MEASURE_MEASURE_TDX_H
#define VEIL_MEASURE_MEASURE_TDX_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "measure/measure.h"

#define VEIL_MEASURE_MAX_KERNEL (512u << 20)

/* Sets out->has_rtmr2 and, when the kernel is a PE/COFF image, out->has_rtmr1. */
int veil_measure_tdx_rtmrs(const char *kernel, const char *initrd, const char *cmdline,
                           struct veil_measure_result *out, veil_error_t *err);

/* Authenticode SHA-384 of a PE/COFF image as tdx-measure computes it; EINVAL if the data
 * is not a well-formed PE image. */
int veil_pe_authenticode_sha384(const uint8_t *data, size_t len, uint8_t out[48], veil_error_t *err);

/* RTMR2 event for the kernel command line as TDVF passes it to the kernel. */
int veil_tdx_cmdline_event(const char *cmdline, int has_initrd, uint8_t out[48], veil_error_t *err);

#endif
