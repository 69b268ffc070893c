/* TDVF metadata (Intel TDX firmware): the "TDVF" descriptor found through the OVMF footer
 * table, and MRTD computed from it. Validation follows virtee/tdx-measure's tdvf.rs plus
 * bounds checks on every section (firmware files are user input). */
#ifndef VEIL_MEASURE_TDVF_H
#define VEIL_MEASURE_TDVF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "measure/ovmf.h"

enum {
  VEIL_TDVF_ATTR_MR_EXTEND = 1u << 0,
  VEIL_TDVF_ATTR_PAGE_AUG = 1u << 1,
};
enum veil_tdvf_section_type {
  VEIL_TDVF_SECTION_BFV = 0,
  VEIL_TDVF_SECTION_CFV = 1,
  VEIL_TDVF_SECTION_TD_HOB = 2,
  VEIL_TDVF_SECTION_TEMP_MEM = 3,
};

struct veil_tdvf_section {
  uint32_t data_offset;
  uint32_t raw_size;
  uint64_t gpa;
  uint64_t mem_size;
  uint32_t type;
  uint32_t attributes;
};

struct veil_tdvf {
  const uint8_t *image; /* borrowed */
  size_t size;
  struct veil_tdvf_section *sections;
  size_t n_sections;
};

/* Locate and validate the TDVF descriptor of a parsed OVMF image. ENOENT when the firmware
 * has no TDVF metadata (not a TDX firmware), EINVAL when it is corrupt. */
int veil_tdvf_parse(const struct veil_ovmf *ovmf, struct veil_tdvf *out, veil_error_t *err);
void veil_tdvf_release(struct veil_tdvf *t);

/* MRTD (SHA-384). two_pass=false: per page MEM.PAGE.ADD then its MR.EXTENDs (upstream KVM);
 * two_pass=true: all page adds of a section first, then its extends (older stacks). */
int veil_tdvf_mrtd(const struct veil_tdvf *t, bool two_pass, uint8_t out[48], veil_error_t *err);

#endif
