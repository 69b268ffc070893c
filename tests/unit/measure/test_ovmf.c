/* Firmware metadata parsers (OVMF footer table, SEV metadata, TDVF) on good, truncated and
 * corrupt images: corrupt input is a clear error (never a crash: this suite also runs under
 * ASan/UBSan), and what the parsers find in good images is what the images contain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "measure/measure.h"
#include "measure/measure_bytes.h"
#include "measure/ovmf.h"
#include "measure/sev_hashes.h"
#include "measure/tdvf.h"
#include "measure_testutil.h"

enum { SIZE = 524288, ASEV_OFF = 0x600, TDVF_OFF = 0x900 };

static unsigned char *synth; /* synth_fw_build() with a TDVF descriptor */
static size_t synth_len;
static unsigned char *debian;
static size_t debian_len;

static int setup(void **state)
{
  (void)state;
  const struct synth_fw fw = { .seed = "fw-A", .size = SIZE, .tdx = true };
  synth = synth_fw_build(&fw);
  synth_len = fw.size;
  debian = measure_slurp(DEBIAN_OVMF, &debian_len);
  return synth && debian ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  free(synth);
  free(debian);
  return 0;
}

static unsigned char *copy_synth(void)
{
  unsigned char *c = malloc(synth_len);
  assert_non_null(c);
  memcpy(c, synth, synth_len);
  return c;
}

static void test_synth_footer_and_metadata(void **state)
{
  (void)state;
  struct veil_ovmf o;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_ovmf_parse(synth, synth_len, &o, &err), 0);
  assert_int_equal(o.n_entries, 5);
  uint32_t eip = 0, gpa = 0;
  assert_int_equal(veil_ovmf_sev_es_reset_eip(&o, &eip, &err), 0);
  assert_int_equal(eip, 0xfffc20a4);
  assert_true(veil_ovmf_sev_hashes_table_gpa(&o, &gpa));
  assert_int_equal(gpa, 0x80fc00);
  assert_int_equal(o.n_sections, 5);
  assert_int_equal(o.sections[3].type, VEIL_SEV_SECTION_SNP_KERNEL_HASHES);
  assert_int_equal(o.sections[3].gpa, 0x80f000);
  assert_int_equal(o.sections[4].size, 0x10000);
  struct veil_tdvf t;
  assert_int_equal(veil_tdvf_parse(&o, &t, &err), 0);
  assert_int_equal(t.n_sections, 6);
  assert_int_equal(t.sections[0].attributes, VEIL_TDVF_ATTR_MR_EXTEND);
  assert_int_equal(t.sections[0].gpa, (1ull << 32) - SIZE + 0x10000);
  assert_int_equal(t.sections[4].type, VEIL_TDVF_SECTION_TD_HOB);
  veil_tdvf_release(&t);
  veil_ovmf_release(&o);
}

/* Debian's OVMF: reset EIP 0x80b004, no SNP kernel-hashes section, a 6-section TDVF. */
static void test_debian_ovmf(void **state)
{
  (void)state;
  struct veil_ovmf o;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_ovmf_parse(debian, debian_len, &o, &err), 0);
  uint32_t eip = 0;
  assert_int_equal(veil_ovmf_sev_es_reset_eip(&o, &eip, &err), 0);
  assert_int_equal(eip, 0x80b004);
  assert_false(veil_ovmf_has_section(&o, VEIL_SEV_SECTION_SNP_KERNEL_HASHES));
  struct veil_tdvf t;
  assert_int_equal(veil_tdvf_parse(&o, &t, &err), 0);
  assert_int_equal(t.n_sections, 6);
  veil_tdvf_release(&t);
  veil_ovmf_release(&o);
  /* a kernel cannot be measured with this firmware: a clear error, not a wrong digest */
  uint8_t table[VEIL_SEV_HASHES_PADDED_SIZE] = { 0 }, out[48];
  assert_int_equal(veil_measure_snp_buf(debian, debian_len, table, 1, 0x800f12, 1, out, &err), -1);
  assert_int_equal(err->status, EINVAL);
  assert_non_null(strstr(err->msg, "SNP_KERNEL_HASHES"));
}

/* Every truncation that keeps the end of the image (as a cut-off download would not, but a
 * wrongly extracted blob might) and every prefix: errors or consistent results, never a crash. */
static void test_truncated_images(void **state)
{
  (void)state;
  uint8_t out[48];
  for (size_t keep = 0; keep <= 0x1000; keep += 4) {
    cleanup_error veil_error_t err = NULL;
    const unsigned char *tail = synth + synth_len - keep;
    struct veil_ovmf o;
    if (veil_ovmf_parse(tail, keep, &o, &err) == 0)
      veil_ovmf_release(&o);
    else
      assert_int_equal(err->status, EINVAL);
    veil_error_release(&err);
    if (veil_measure_mrtd_buf(tail, keep, false, out, &err) < 0)
      assert_true(err->status == EINVAL || err->status == ENOENT);
    veil_error_release(&err);
    if (veil_measure_snp_buf(tail, keep, NULL, 2, 0x800f12, 1, out, &err) < 0)
      assert_true(err->status == EINVAL || err->status == ENOENT);
  }
  /* too small to hold a footer */
  cleanup_error veil_error_t err = NULL;
  struct veil_ovmf o;
  assert_int_equal(veil_ovmf_parse(synth, 40, &o, &err), -1);
  assert_non_null(strstr(err->msg, "too small"));
  /* a tail that cuts off the ASEV header (0x600 from the end) */
  veil_error_release(&err);
  assert_int_equal(veil_ovmf_parse(synth + synth_len - 0x400, 0x400, &o, &err), -1);
  assert_non_null(strstr(err->msg, "SEV metadata"));
  /* SNP needs whole pages */
  veil_error_release(&err);
  assert_int_equal(veil_measure_snp_buf(synth, synth_len - 100, NULL, 1, 0, 1, out, &err), -1);
  assert_non_null(strstr(err->msg, "multiple of 4 KiB"));
}

static void expect_parse_error(unsigned char *img, const char *needle)
{
  struct veil_ovmf o;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_ovmf_parse(img, synth_len, &o, &err), -1);
  assert_int_equal(err->status, EINVAL);
  if (!strstr(err->msg, needle))
    fail_msg("error `%s` does not mention `%s`", err->msg, needle);
}

static void expect_tdvf_error(unsigned char *img, const char *needle)
{
  uint8_t out[48];
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_measure_mrtd_buf(img, synth_len, false, out, &err), -1);
  assert_int_equal(err->status, EINVAL);
  if (!strstr(err->msg, needle))
    fail_msg("error `%s` does not mention `%s`", err->msg, needle);
}

static void test_corrupt_footer_table(void **state)
{
  (void)state;
  size_t footer = synth_len - 32 - 18;
  unsigned char *img = copy_synth();
  struct veil_ovmf o;
  cleanup_error veil_error_t err = NULL;
  /* table length larger than the image (on the last 4 KiB, which hold the whole table) */
  unsigned char tail[0x1000];
  memcpy(tail, synth + synth_len - sizeof(tail), sizeof(tail));
  veil_put_le16(tail + sizeof(tail) - 32 - 18, 0xffff);
  assert_int_equal(veil_ovmf_parse(tail, sizeof(tail), &o, &err), -1);
  assert_non_null(strstr(err->msg, "exceeds the image"));
  /* an entry whose size is below the header size */
  memcpy(img, synth, synth_len);
  veil_put_le16(img + footer - 18, 5);
  expect_parse_error(img, "entry size 5");
  /* an entry larger than the rest of the table */
  memcpy(img, synth, synth_len);
  veil_put_le16(img + footer - 18, 0x7000);
  expect_parse_error(img, "exceeds the table");
  /* no footer GUID: no table, no metadata; SEV-ES/SNP then need the reset block */
  memcpy(img, synth, synth_len);
  img[footer + 2] ^= 0xff;
  veil_error_release(&err);
  assert_int_equal(veil_ovmf_parse(img, synth_len, &o, &err), 0);
  assert_int_equal(o.n_entries, 0);
  veil_ovmf_release(&o);
  uint8_t out[48];
  assert_int_equal(veil_measure_snp_buf(img, synth_len, NULL, 1, 0, 1, out, &err), -1);
  assert_int_equal(err->status, ENOENT);
  assert_non_null(strstr(err->msg, "SEV-ES reset block"));
  veil_error_release(&err);
  assert_int_equal(veil_measure_mrtd_buf(img, synth_len, false, out, &err), -1);
  assert_int_equal(err->status, ENOENT);
  assert_non_null(strstr(err->msg, "TDVF"));
  /* plain SEV only hashes the image: fine without metadata */
  veil_error_release(&err);
  assert_int_equal(veil_measure_sev_buf(img, synth_len, NULL, false, 1, 0, out, &err), 0);
  free(img);
}

static void test_corrupt_sev_metadata(void **state)
{
  (void)state;
  unsigned char *img = copy_synth();
  unsigned char *asev = img + synth_len - ASEV_OFF;
  asev[0] = 'X';
  expect_parse_error(img, "wrong signature");
  memcpy(img, synth, synth_len);
  veil_put_le32(asev + 8, 2);
  expect_parse_error(img, "version 2");
  memcpy(img, synth, synth_len);
  veil_put_le32(asev + 12, 0xffffffff); /* section count far beyond the header */
  expect_parse_error(img, "do not fit");
  memcpy(img, synth, synth_len);
  veil_put_le32(asev + 4, 20); /* header size too small for its sections */
  expect_parse_error(img, "do not fit");
  /* offset pointing outside the image: find the metadata entry's data (le32 ASEV_OFF) */
  memcpy(img, synth, synth_len);
  struct veil_ovmf o;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_ovmf_parse(synth, synth_len, &o, &err), 0);
  size_t at = (size_t)(veil_ovmf_find(&o, veil_guid_sev_metadata)->data - synth);
  veil_ovmf_release(&o);
  veil_put_le32(img + at, 0x7fffffff);
  expect_parse_error(img, "outside the image");
  veil_put_le32(img + at, 8); /* the header would run past the end (found by fuzz-ovmf) */
  expect_parse_error(img, "outside the image");
  veil_put_le32(img + at, 0);
  expect_parse_error(img, "outside the image");
  /* unknown section type: rejected where SNP measures it */
  memcpy(img, synth, synth_len);
  veil_put_le32(asev + 16 + 8, 0x77);
  uint8_t out[48];
  assert_int_equal(veil_measure_snp_buf(img, synth_len, NULL, 1, 0, 1, out, &err), -1);
  assert_non_null(strstr(err->msg, "unknown SEV metadata section type 0x77"));
  /* a section size that is not whole pages */
  memcpy(img, synth, synth_len);
  veil_put_le32(asev + 16 + 4, 0x1234);
  veil_error_release(&err);
  assert_int_equal(veil_measure_snp_buf(img, synth_len, NULL, 1, 0, 1, out, &err), -1);
  assert_non_null(strstr(err->msg, "not a multiple of 4 KiB"));
  /* a hashes table GPA whose page offset leaves no room for the table */
  memcpy(img, synth, synth_len);
  assert_int_equal(veil_ovmf_parse(synth, synth_len, &o, &err), 0);
  at = (size_t)(veil_ovmf_find(&o, veil_guid_sev_hash_table_rv)->data - synth);
  veil_ovmf_release(&o);
  veil_put_le32(img + at, 0x80ffa0);
  uint8_t table[VEIL_SEV_HASHES_PADDED_SIZE] = { 0 };
  veil_error_release(&err);
  assert_int_equal(veil_measure_snp_buf(img, synth_len, table, 1, 0, 1, out, &err), -1);
  assert_non_null(strstr(err->msg, "does not fit"));
  free(img);
}

static void test_corrupt_tdvf(void **state)
{
  (void)state;
  unsigned char *img = copy_synth();
  unsigned char *desc = img + synth_len - TDVF_OFF;
  unsigned char *sec0 = desc + 16;
  desc[1] = 'X';
  expect_tdvf_error(img, "wrong signature");
  memcpy(img, synth, synth_len);
  veil_put_le32(desc + 12, 0x10000000);
  expect_tdvf_error(img, "do not fit");
  memcpy(img, synth, synth_len);
  veil_put_le32(desc + 12, 0);
  expect_tdvf_error(img, "no sections");
  /* descriptor offset whose header would run past the end of the image */
  memcpy(img, synth, synth_len);
  struct veil_ovmf o;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_ovmf_parse(synth, synth_len, &o, &err), 0);
  size_t at = (size_t)(veil_ovmf_find(&o, veil_guid_tdx_metadata_offset)->data - synth);
  veil_ovmf_release(&o);
  veil_put_le32(img + at, 4);
  expect_tdvf_error(img, "outside the image");
  memcpy(img, synth, synth_len);
  veil_put_le64(sec0 + 8, 0x1234); /* unaligned GPA */
  expect_tdvf_error(img, "not page aligned");
  memcpy(img, synth, synth_len);
  veil_put_le64(sec0 + 16, 0x1000); /* memory size < raw size */
  expect_tdvf_error(img, "smaller than raw size");
  memcpy(img, synth, synth_len);
  veil_put_le32(sec0, 0x70000); /* measured data beyond the end of the image */
  expect_tdvf_error(img, "outside");
  memcpy(img, synth, synth_len);
  veil_put_le64(sec0 + 32 + 16, 1ull << 40); /* a 1 TiB section: would hash for hours */
  veil_put_le32(sec0 + 32 + 28, 0);
  expect_tdvf_error(img, "4 GiB");
  free(img);
}

/* Flip every byte of the last 4 KiB (the metadata area), one at a time: each image either
 * measures or fails with EINVAL/ENOENT. */
static void test_single_byte_corruptions(void **state)
{
  (void)state;
  unsigned char *img = copy_synth();
  uint8_t out[48];
  int errors = 0;
  for (size_t i = synth_len - 0x1000; i < synth_len; i++) {
    img[i] ^= 0xa5;
    cleanup_error veil_error_t err = NULL;
    if (veil_measure_snp_buf(img, synth_len, NULL, 2, 0x800f12, 1, out, &err) < 0) {
      assert_true(err->status == EINVAL || err->status == ENOENT);
      errors++;
    }
    veil_error_release(&err);
    if (veil_measure_mrtd_buf(img, synth_len, true, out, &err) < 0)
      assert_true(err->status == EINVAL || err->status == ENOENT);
    img[i] ^= 0xa5;
  }
  assert_true(errors > 0); /* some flips (signatures, sizes) must have been caught */
  free(img);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_synth_footer_and_metadata),
    cmocka_unit_test(test_debian_ovmf),
    cmocka_unit_test(test_truncated_images),
    cmocka_unit_test(test_corrupt_footer_table),
    cmocka_unit_test(test_corrupt_sev_metadata),
    cmocka_unit_test(test_corrupt_tdvf),
    cmocka_unit_test(test_single_byte_corruptions),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
