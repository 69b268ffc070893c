/* OVMF firmware metadata: the footer GUID table at the end of the image and the SEV
 * metadata ("ASEV") it points to. Firmware files are user input: every offset and size
 * read from the image is bounds-checked and a corrupt image is a clear EINVAL error.
 * Parsing follows virtee/sev-snp-measure's ovmf.py so that digests match it. */
#ifndef VEIL_MEASURE_OVMF_H
#define VEIL_MEASURE_OVMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* GUIDs in EFI (bytes_le) layout. */
extern const uint8_t veil_guid_ovmf_footer[16];
extern const uint8_t veil_guid_sev_es_reset_block[16];
extern const uint8_t veil_guid_sev_hash_table_rv[16];
extern const uint8_t veil_guid_sev_metadata[16];
extern const uint8_t veil_guid_tdx_metadata_offset[16];

enum veil_sev_section_type {
  VEIL_SEV_SECTION_SNP_SEC_MEM = 1,
  VEIL_SEV_SECTION_SNP_SECRETS = 2,
  VEIL_SEV_SECTION_CPUID = 3,
  VEIL_SEV_SECTION_SVSM_CAA = 4,
  VEIL_SEV_SECTION_SNP_KERNEL_HASHES = 0x10,
};

struct veil_ovmf_entry {
  uint8_t guid[16];
  const uint8_t *data; /* points into the image */
  size_t len;
};

struct veil_sev_section {
  uint32_t gpa;
  uint32_t size;
  uint32_t type; /* raw value; unknown types are rejected where they are used */
};

struct veil_ovmf {
  const uint8_t *image; /* borrowed, must outlive this struct */
  size_t size;
  struct veil_ovmf_entry *entries; /* in parse order: from the end of the table backwards */
  size_t n_entries;
  struct veil_sev_section *sections; /* SEV metadata, in file order */
  size_t n_sections;
};

/* Parse the footer table and, when present, the SEV metadata. An image without the footer
 * GUID is valid and has no entries (as in sev-snp-measure). */
int veil_ovmf_parse(const uint8_t *image, size_t size, struct veil_ovmf *out, veil_error_t *err);
void veil_ovmf_release(struct veil_ovmf *o);

/* The entry with this GUID (the one parsed last if the GUID repeats), or NULL. */
const struct veil_ovmf_entry *veil_ovmf_find(const struct veil_ovmf *o, const uint8_t guid[16]);
/* SEV-ES AP reset EIP from the reset-block entry; ENOENT if the firmware has none. */
int veil_ovmf_sev_es_reset_eip(const struct veil_ovmf *o, uint32_t *eip, veil_error_t *err);
/* GPA of the SEV hashes table; false if the firmware has no hashes-table entry. */
bool veil_ovmf_sev_hashes_table_gpa(const struct veil_ovmf *o, uint32_t *gpa);
bool veil_ovmf_has_section(const struct veil_ovmf *o, uint32_t type);

#endif
