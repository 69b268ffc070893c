/* OVMF footer GUID table and SEV metadata parser (see ovmf.h). */
#include "measure/ovmf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "measure/measure_bytes.h"

const uint8_t veil_guid_ovmf_footer[16] = { /* 96b582de-1fb2-45f7-baea-a366c55a082d */
  0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d };
const uint8_t veil_guid_sev_es_reset_block[16] = { /* 00f771de-1a7e-4fcb-890e-68c77e2fb44e */
  0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f, 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e };
const uint8_t veil_guid_sev_hash_table_rv[16] = { /* 7255371f-3a3b-4b04-927b-1da6efa8d454 */
  0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a, 0x04, 0x4b, 0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54 };
const uint8_t veil_guid_sev_metadata[16] = { /* dc886566-984a-4798-a75e-5585a7bf67cc */
  0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47, 0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc };
const uint8_t veil_guid_tdx_metadata_offset[16] = { /* e47a6535-984a-4798-865e-4685a7bf8ec2 */
  0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47, 0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2 };

enum {
  TRAILER_BYTES = 32, /* the table ends 32 bytes before the end of the image */
  ENTRY_HEADER = 18,  /* u16 size + GUID */
  ASEV_HEADER = 16,
  ASEV_ITEM = 12,
};
#define MAX_SECTIONS_TOTAL (UINT64_C(1) << 30)

static int parse_footer_table(struct veil_ovmf *o, veil_error_t *err)
{
  if (o->size < TRAILER_BYTES + ENTRY_HEADER)
    return veil_error_make(err, EINVAL, "firmware image is too small (%zu bytes) to be OVMF",
                           o->size);
  size_t footer = o->size - TRAILER_BYTES - ENTRY_HEADER;
  if (memcmp(o->image + footer + 2, veil_guid_ovmf_footer, 16) != 0)
    return 0; /* no footer table: not an error, the firmware just has no metadata */
  size_t table_size = veil_le16(o->image + footer);
  if (table_size < ENTRY_HEADER)
    return 0;
  table_size -= ENTRY_HEADER;
  if (table_size > footer)
    return veil_error_make(err, EINVAL,
                           "corrupt OVMF footer table: length %zu exceeds the image", table_size);
  const uint8_t *table = o->image + footer - table_size;
  o->entries = calloc(table_size / ENTRY_HEADER + 1, sizeof(*o->entries));
  if (!o->entries)
    return veil_error_errno(err, "allocate OVMF table");
  size_t left = table_size;
  while (left >= ENTRY_HEADER) {
    const uint8_t *hdr = table + left - ENTRY_HEADER;
    size_t entry_size = veil_le16(hdr);
    if (entry_size < ENTRY_HEADER)
      return veil_error_make(err, EINVAL, "corrupt OVMF footer table: entry size %zu < 18",
                             entry_size);
    if (entry_size > left)
      return veil_error_make(err, EINVAL,
                             "corrupt OVMF footer table: entry size %zu exceeds the table",
                             entry_size);
    struct veil_ovmf_entry *e = &o->entries[o->n_entries++];
    memcpy(e->guid, hdr + 2, 16);
    e->len = entry_size - ENTRY_HEADER;
    e->data = hdr - e->len;
    left -= entry_size;
  }
  return 0;
}

static int parse_sev_metadata(struct veil_ovmf *o, veil_error_t *err)
{
  const struct veil_ovmf_entry *e = veil_ovmf_find(o, veil_guid_sev_metadata);
  if (!e)
    return 0;
  if (e->len < 4)
    return veil_error_make(err, EINVAL, "corrupt OVMF SEV metadata entry (%zu bytes)", e->len);
  size_t from_end = veil_le32(e->data);
  if (from_end < ASEV_HEADER || from_end > o->size) /* the 16-byte header must fit */
    return veil_error_make(err, EINVAL,
                           "corrupt OVMF SEV metadata: offset 0x%zx from the end is outside the image",
                           from_end);
  size_t start = o->size - from_end;
  const uint8_t *h = o->image + start;
  if (memcmp(h, "ASEV", 4) != 0)
    return veil_error_make(err, EINVAL, "corrupt OVMF SEV metadata: wrong signature (want ASEV)");
  if (veil_le32(h + 8) != 1)
    return veil_error_make(err, EINVAL, "unsupported OVMF SEV metadata version %u (want 1)",
                           veil_le32(h + 8));
  uint64_t hdr_size = veil_le32(h + 4), n = veil_le32(h + 12);
  uint64_t end = start + hdr_size < o->size ? start + hdr_size : o->size;
  if (hdr_size < ASEV_HEADER || start + ASEV_HEADER + n * ASEV_ITEM > end)
    return veil_error_make(err, EINVAL,
                           "corrupt OVMF SEV metadata: %" PRIu64 " sections do not fit in %" PRIu64
                           " bytes", n, hdr_size);
  if (n == 0)
    return 0;
  o->sections = calloc(n, sizeof(*o->sections));
  if (!o->sections)
    return veil_error_errno(err, "allocate SEV metadata");
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *it = h + ASEV_HEADER + i * ASEV_ITEM;
    o->sections[i] = (struct veil_sev_section){ veil_le32(it), veil_le32(it + 4), veil_le32(it + 8) };
    total += o->sections[i].size;
  }
  /* real firmware declares well under a MiB; a huge total only makes SNP hashing run long */
  if (total > MAX_SECTIONS_TOTAL)
    return veil_error_make(err, EINVAL, "corrupt OVMF SEV metadata: sections cover %" PRIu64
                           " bytes (more than 1 GiB)", total);
  o->n_sections = n;
  return 0;
}

int veil_ovmf_parse(const uint8_t *image, size_t size, struct veil_ovmf *out, veil_error_t *err)
{
  *out = (struct veil_ovmf){ .image = image, .size = size };
  if (parse_footer_table(out, err) < 0 || parse_sev_metadata(out, err) < 0) {
    veil_ovmf_release(out);
    return -1;
  }
  return 0;
}

void veil_ovmf_release(struct veil_ovmf *o)
{
  free(o->entries);
  free(o->sections);
  o->entries = NULL;
  o->sections = NULL;
  o->n_entries = o->n_sections = 0;
}

const struct veil_ovmf_entry *veil_ovmf_find(const struct veil_ovmf *o, const uint8_t guid[16])
{
  for (size_t i = o->n_entries; i-- > 0;)
    if (memcmp(o->entries[i].guid, guid, 16) == 0)
      return &o->entries[i];
  return NULL;
}

int veil_ovmf_sev_es_reset_eip(const struct veil_ovmf *o, uint32_t *eip, veil_error_t *err)
{
  const struct veil_ovmf_entry *e = veil_ovmf_find(o, veil_guid_sev_es_reset_block);
  if (!e)
    return veil_error_make(err, ENOENT,
                           "firmware has no SEV-ES reset block in its OVMF footer table: "
                           "it cannot boot SEV-ES or SEV-SNP guests");
  if (e->len < 4)
    return veil_error_make(err, EINVAL, "corrupt SEV-ES reset block entry (%zu bytes)", e->len);
  *eip = veil_le32(e->data);
  return 0;
}

bool veil_ovmf_sev_hashes_table_gpa(const struct veil_ovmf *o, uint32_t *gpa)
{
  const struct veil_ovmf_entry *e = veil_ovmf_find(o, veil_guid_sev_hash_table_rv);
  if (!e || e->len < 4)
    return false;
  *gpa = veil_le32(e->data);
  return true;
}

bool veil_ovmf_has_section(const struct veil_ovmf *o, uint32_t type)
{
  for (size_t i = 0; i < o->n_sections; i++)
    if (o->sections[i].type == type)
      return true;
  return false;
}
