/* TDVF descriptor parser and MRTD (see tdvf.h). */
#include "measure/tdvf.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "measure/measure_bytes.h"

enum {
  PAGE = 4096,
  EXTEND_CHUNK = 256,
  DESC_HEADER = 16,
  DESC_SECTION = 32,
  RECORD = 128,
};
#define MAX_MEMORY (UINT64_C(4) << 30)

static int check_section(const struct veil_tdvf_section *s, size_t i, size_t image_size,
                         veil_error_t *err)
{
  if (s->gpa % PAGE)
    return veil_error_make(err, EINVAL, "corrupt TDVF section %zu: address 0x%" PRIx64
                           " is not page aligned", i, s->gpa);
  if (s->mem_size % PAGE)
    return veil_error_make(err, EINVAL, "corrupt TDVF section %zu: memory size 0x%" PRIx64
                           " is not page aligned", i, s->mem_size);
  if (s->mem_size < s->raw_size)
    return veil_error_make(err, EINVAL, "corrupt TDVF section %zu: memory size 0x%" PRIx64
                           " is smaller than raw size 0x%x", i, s->mem_size, s->raw_size);
  if ((uint64_t)s->data_offset + s->raw_size > image_size)
    return veil_error_make(err, EINVAL, "corrupt TDVF section %zu: data 0x%x+0x%x is outside "
                           "the %zu-byte image", i, s->data_offset, s->raw_size, image_size);
  /* MR.EXTEND hashes mem_size bytes of image data starting at data_offset */
  if ((s->attributes & VEIL_TDVF_ATTR_MR_EXTEND) &&
      (uint64_t)s->data_offset + s->mem_size > image_size)
    return veil_error_make(err, EINVAL, "corrupt TDVF section %zu: measured data 0x%x+0x%" PRIx64
                           " is outside the %zu-byte image", i, s->data_offset, s->mem_size,
                           image_size);
  return 0;
}

int veil_tdvf_parse(const struct veil_ovmf *ovmf, struct veil_tdvf *out, veil_error_t *err)
{
  *out = (struct veil_tdvf){ .image = ovmf->image, .size = ovmf->size };
  const struct veil_ovmf_entry *e = veil_ovmf_find(ovmf, veil_guid_tdx_metadata_offset);
  if (!e)
    return veil_error_make(err, ENOENT, "firmware has no TDVF metadata in its OVMF footer "
                           "table: it is not a TDX firmware (TDVF)");
  if (e->len < 4)
    return veil_error_make(err, EINVAL, "corrupt TDVF metadata entry (%zu bytes)", e->len);
  size_t from_end = veil_le32(e->data + e->len - 4);
  if (from_end < DESC_HEADER || from_end > ovmf->size) /* the 16-byte header must fit */
    return veil_error_make(err, EINVAL, "corrupt TDVF metadata: offset 0x%zx from the end is "
                           "outside the image", from_end);
  size_t start = ovmf->size - from_end;
  const uint8_t *d = ovmf->image + start;
  if (memcmp(d, "TDVF", 4) != 0)
    return veil_error_make(err, EINVAL, "corrupt TDVF metadata: wrong signature (want TDVF)");
  if (veil_le32(d + 8) != 1)
    return veil_error_make(err, EINVAL, "unsupported TDVF metadata version %u (want 1)",
                           veil_le32(d + 8));
  uint64_t n = veil_le32(d + 12);
  if (start + DESC_HEADER + n * DESC_SECTION > ovmf->size)
    return veil_error_make(err, EINVAL, "corrupt TDVF metadata: %" PRIu64 " sections do not fit "
                           "in the image", n);
  if (n == 0)
    return veil_error_make(err, EINVAL, "corrupt TDVF metadata: no sections");
  out->sections = calloc(n, sizeof(*out->sections));
  if (!out->sections)
    return veil_error_errno(err, "allocate TDVF sections");
  uint64_t total = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *p = d + DESC_HEADER + i * DESC_SECTION;
    struct veil_tdvf_section s = {
      .data_offset = veil_le32(p),
      .raw_size = veil_le32(p + 4),
      .gpa = veil_le64(p + 8),
      .mem_size = veil_le64(p + 16),
      .type = veil_le32(p + 24),
      .attributes = veil_le32(p + 28),
    };
    if (check_section(&s, i, ovmf->size, err) < 0) {
      veil_tdvf_release(out);
      return -1;
    }
    /* TD memory initialised from the descriptor lies below 4 GiB: a larger total is a
     * corrupt image and would only make MRTD hashing run for hours */
    total += s.mem_size;
    if (s.mem_size > MAX_MEMORY || total > MAX_MEMORY) {
      veil_tdvf_release(out);
      return veil_error_make(err, EINVAL, "corrupt TDVF metadata: sections declare more than "
                             "4 GiB of TD memory");
    }
    out->sections[out->n_sections++] = s;
  }
  return 0;
}

void veil_tdvf_release(struct veil_tdvf *t)
{
  free(t->sections);
  t->sections = NULL;
  t->n_sections = 0;
}

static int page_add(EVP_MD_CTX *h, const struct veil_tdvf_section *s, uint64_t page)
{
  if (s->attributes & VEIL_TDVF_ATTR_PAGE_AUG)
    return 1;
  uint8_t rec[RECORD] = { 0 };
  memcpy(rec, "MEM.PAGE.ADD", 12);
  veil_put_le64(rec + 16, s->gpa + page * PAGE);
  return EVP_DigestUpdate(h, rec, sizeof(rec));
}

static int mr_extend(EVP_MD_CTX *h, const struct veil_tdvf *t, const struct veil_tdvf_section *s,
                     uint64_t page)
{
  if (!(s->attributes & VEIL_TDVF_ATTR_MR_EXTEND))
    return 1;
  for (unsigned i = 0; i < PAGE / EXTEND_CHUNK; i++) {
    uint8_t rec[RECORD] = { 0 };
    uint64_t off = page * PAGE + i * EXTEND_CHUNK;
    memcpy(rec, "MR.EXTEND", 9);
    veil_put_le64(rec + 16, s->gpa + off);
    if (!EVP_DigestUpdate(h, rec, sizeof(rec)) ||
        !EVP_DigestUpdate(h, t->image + s->data_offset + off, EXTEND_CHUNK))
      return 0;
  }
  return 1;
}

int veil_tdvf_mrtd(const struct veil_tdvf *t, bool two_pass, uint8_t out[48], veil_error_t *err)
{
  EVP_MD_CTX *h = EVP_MD_CTX_new();
  int ok = h && EVP_DigestInit_ex(h, EVP_sha384(), NULL);
  for (size_t i = 0; ok && i < t->n_sections; i++) {
    const struct veil_tdvf_section *s = &t->sections[i];
    uint64_t pages = s->mem_size / PAGE;
    if (two_pass) {
      for (uint64_t p = 0; ok && p < pages; p++)
        ok = page_add(h, s, p);
      for (uint64_t p = 0; ok && p < pages; p++)
        ok = mr_extend(h, t, s, p);
    } else {
      for (uint64_t p = 0; ok && p < pages; p++)
        ok = page_add(h, s, p) && mr_extend(h, t, s, p);
    }
  }
  ok = ok && EVP_DigestFinal_ex(h, out, NULL);
  EVP_MD_CTX_free(h);
  if (!ok)
    return veil_error_make(err, EIO, "SHA-384 failed while computing MRTD");
  return 0;
}
