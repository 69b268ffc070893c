/* TDX RTMR1/RTMR2 for direct boot. The kernel's Authenticode SHA-384 is checked against
 * osslsigncode (an independent implementation), and the RTMR event chains against a Python
 * hashlib computation of tdx-measure's event lists. Malformed PE images are errors (RTMR1 is
 * then not computed), never crashes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "measure/measure.h"
#include "measure/measure_bytes.h"
#include "measure/measure_tdx.h"
#include "measure_testutil.h"

static char *tmp;

static int setup(void **state)
{
  (void)state;
  tmp = measure_tmpdir();
  return tmp ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  measure_rmdir(tmp);
  return 0;
}

enum { PE_SIZE = 0x1000 };

/* A minimal PE32+ image: headers, .text and .data sections with distinct contents. */
static void build_pe(uint8_t img[PE_SIZE])
{
  memset(img, 0, PE_SIZE);
  img[0] = 'M', img[1] = 'Z';
  veil_put_le32(img + 0x3c, 0x80);
  memcpy(img + 0x80, "PE\0\0", 4);
  uint8_t *coff = img + 0x84, *opt = coff + 20;
  veil_put_le16(coff, 0x8664);        /* machine */
  veil_put_le16(coff + 2, 2);         /* sections */
  veil_put_le16(coff + 16, 240);      /* optional header size */
  veil_put_le16(coff + 18, 0x0022);   /* characteristics */
  veil_put_le16(opt, 0x20b);          /* PE32+ */
  veil_put_le32(opt + 4, 0x200);      /* SizeOfCode */
  veil_put_le32(opt + 16, 0x1000);    /* AddressOfEntryPoint */
  veil_put_le64(opt + 24, 0x10000000);/* ImageBase */
  veil_put_le32(opt + 32, 0x1000);    /* SectionAlignment */
  veil_put_le32(opt + 36, 0x200);     /* FileAlignment */
  veil_put_le32(opt + 56, 0x3000);    /* SizeOfImage */
  veil_put_le32(opt + 60, 0x400);     /* SizeOfHeaders */
  veil_put_le32(opt + 64, 0x12345678);/* CheckSum (excluded from the hash) */
  veil_put_le16(opt + 68, 10);        /* subsystem: EFI application */
  veil_put_le32(opt + 108, 16);       /* NumberOfRvaAndSizes */
  uint8_t *sec = opt + 240;
  memcpy(sec, ".text", 5);
  veil_put_le32(sec + 8, 0x200), veil_put_le32(sec + 12, 0x1000);
  veil_put_le32(sec + 16, 0x200), veil_put_le32(sec + 20, 0x400);
  veil_put_le32(sec + 36, 0x60000020);
  memcpy(sec + 40, ".data", 5);
  veil_put_le32(sec + 48, 0xa00), veil_put_le32(sec + 52, 0x2000);
  veil_put_le32(sec + 56, 0xa00), veil_put_le32(sec + 60, 0x600);
  veil_put_le32(sec + 76, 0xc0000040);
  for (size_t i = 0x400; i < PE_SIZE; i++)
    img[i] = (uint8_t)(i * 31 + 7);
}

static char *tmp_path(const char *name)
{
  char *p = NULL;
  assert_true(asprintf(&p, "%s/%s", tmp, name) > 0);
  return p;
}

static void write_bytes(const char *path, const void *data, size_t len)
{
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_write_file_atomic(path, data, len, 0644, &err), 0);
}

/* osslsigncode's Authenticode SHA-384 of a PE file (from its SpcIndirectDataContent). */
static void osslsigncode_digest(const char *pe, uint8_t out[48])
{
  cleanup_free char *der = tmp_path("data.der");
  char *argv[] = { "/usr/bin/osslsigncode", "extract-data", "-h", "sha384", "-in", (char *)pe,
                   "-out", der, NULL };
  unlink(der);
  assert_int_equal(measure_run(argv), 0);
  size_t len;
  cleanup_free unsigned char *d = measure_slurp(der, &len);
  assert_non_null(d);
  /* AlgorithmIdentifier sha384 (OID 2.16.840.1.101.3.4.2.2), NULL, OCTET STRING of 48 */
  static const uint8_t marker[] = { 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                                    0x02, 0x05, 0x00, 0x04, 0x30 };
  for (size_t i = 0; i + sizeof(marker) + 48 <= len; i++)
    if (memcmp(d + i, marker, sizeof(marker)) == 0) {
      memcpy(out, d + i + sizeof(marker), 48);
      return;
    }
  fail_msg("no SHA-384 digest in osslsigncode's output");
}

/* RTMR1 and RTMR2 as tdx-measure defines them, computed by Python's hashlib. */
static void python_rtmrs(const char *authenticode_hex, const char *cmdline, const char *initrd,
                         char rtmr1[97], char rtmr2[97])
{
  static const char script[] =
      "import hashlib, sys\n"
      "h = lambda b: hashlib.sha384(b).digest()\n"
      "def log(events):\n"
      "    mr = bytes(48)\n"
      "    for e in events: mr = h(mr + e)\n"
      "    return mr.hex()\n"
      "pe, cmd, initrd, out = sys.argv[1:5]\n"
      "r1 = log([bytes.fromhex(pe), h(b'Calling EFI Application from Boot Option'), h(bytes(4)),\n"
      "          h(b'Exit Boot Services Invocation'), h(b'Exit Boot Services Returned with Success')])\n"
      "r2 = log([h((cmd + ' initrd=initrd').encode('utf-16-le') + b'\\0\\0'), h(open(initrd, 'rb').read())])\n"
      "open(out, 'w').write(r1 + '\\n' + r2 + '\\n')\n";
  cleanup_free char *out = tmp_path("rtmrs.txt");
  char *argv[] = { MEASURE_PYTHON, "-c", (char *)script, (char *)authenticode_hex, (char *)cmdline,
                   (char *)initrd, out, NULL };
  assert_int_equal(measure_run(argv), 0);
  size_t len;
  cleanup_free char *text = (char *)measure_slurp(out, &len);
  assert_non_null(text);
  assert_int_equal(len, 2 * 97);
  memcpy(rtmr1, text, 96), rtmr1[96] = '\0';
  memcpy(rtmr2, text + 97, 96), rtmr2[96] = '\0';
}

static void test_authenticode_matches_osslsigncode(void **state)
{
  (void)state;
  uint8_t pe[PE_SIZE], want[48], got[48];
  build_pe(pe);
  cleanup_free char *path = tmp_path("kernel.efi");
  write_bytes(path, pe, sizeof(pe));
  osslsigncode_digest(path, want);
  cleanup_error veil_error_t err = NULL;
  if (veil_pe_authenticode_sha384(pe, sizeof(pe), got, &err) < 0)
    fail_msg("%s", err->msg);
  assert_memory_equal(got, want, 48);
  /* the checksum field is not covered; section bytes are */
  veil_put_le32(pe + 0x84 + 20 + 64, 0);
  assert_int_equal(veil_pe_authenticode_sha384(pe, sizeof(pe), got, &err), 0);
  assert_memory_equal(got, want, 48);
  pe[0x700] ^= 1;
  assert_int_equal(veil_pe_authenticode_sha384(pe, sizeof(pe), got, &err), 0);
  assert_memory_not_equal(got, want, 48);
}

static void test_rtmrs_match_event_log(void **state)
{
  (void)state;
  uint8_t pe[PE_SIZE], digest[48];
  build_pe(pe);
  cleanup_free char *kernel = tmp_path("vmlinuz"), *initrd = tmp_path("initrd");
  cleanup_free char *fw = tmp_path("tdx.fw");
  write_bytes(kernel, pe, sizeof(pe));
  write_bytes(initrd, "initrd contents\n", 16);
  assert_int_equal(synth_fw_write(fw, &(struct synth_fw){ .seed = "fw-A", .size = 524288, .tdx = true }), 0);
  osslsigncode_digest(kernel, digest);
  char digest_hex[97], r1[97], r2[97], got[97];
  veil_hex(digest, 48, digest_hex);
  const char *cmdline = "console=hvc0 root=/dev/vda1 \xc3\xa9t\xc3\xa9"; /* non-ASCII: UTF-16 */
  python_rtmrs(digest_hex, cmdline, initrd, r1, r2);
  struct veil_measure_input in = { .mode = VEIL_MEASURE_TDX, .firmware = fw, .kernel = kernel,
                                   .initrd = initrd, .cmdline = cmdline };
  struct veil_measure_result r;
  cleanup_error veil_error_t err = NULL;
  if (veil_measure(&in, &r, &err) < 0)
    fail_msg("%s", err->msg);
  assert_true(r.has_rtmr1 && r.has_rtmr2);
  veil_hex(r.rtmr1, 48, got);
  assert_string_equal(got, r1);
  veil_hex(r.rtmr2, 48, got);
  assert_string_equal(got, r2);
  veil_hex(r.digest, 48, got); /* MRTD is unaffected by the kernel */
  assert_string_equal(got, "0490f728e23cf1d7af52036187731e77818e447cdd2e07f7d9d2f1151bfea9aeb1523c4f38ff570d6bba2a63685b0260");
}

static void test_malformed_pe(void **state)
{
  (void)state;
  uint8_t pe[PE_SIZE], out[48];
  build_pe(pe);
  /* every truncation is an error or a digest, never an out-of-bounds read (ASan) */
  for (size_t len = 0; len <= PE_SIZE; len += 8) {
    cleanup_error veil_error_t err = NULL;
    if (veil_pe_authenticode_sha384(pe, len, out, &err) < 0)
      assert_int_equal(err->status, EINVAL);
  }
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_pe_authenticode_sha384(pe, 0x100, out, &err), -1);
  assert_non_null(strstr(err->msg, "not a PE image"));
  uint8_t bad[PE_SIZE];
  memcpy(bad, pe, sizeof(bad));
  veil_put_le32(bad + 0x3c, 0xfffffff0); /* e_lfanew far outside */
  assert_int_equal(veil_pe_authenticode_sha384(bad, sizeof(bad), out, &err), -1);
  assert_non_null(strstr(err->msg, "PE signature"));
  memcpy(bad, pe, sizeof(bad));
  veil_put_le32(bad + 0x84 + 20 + 60, 0x100); /* SizeOfHeaders before the data directories */
  assert_int_equal(veil_pe_authenticode_sha384(bad, sizeof(bad), out, &err), -1);
  assert_non_null(strstr(err->msg, "SizeOfHeaders"));
  memcpy(bad, pe, sizeof(bad));
  veil_put_le16(bad + 0x84 + 2, 0xffff); /* section table runs off the end */
  assert_int_equal(veil_pe_authenticode_sha384(bad, sizeof(bad), out, &err), -1);
  assert_non_null(strstr(err->msg, "section header"));
  /* a section pointing past the end is hashed as far as the file goes (as tdx-measure does) */
  memcpy(bad, pe, sizeof(bad));
  veil_put_le32(bad + 0x84 + 20 + 240 + 40 + 16, 0x7fffffff);
  assert_int_equal(veil_pe_authenticode_sha384(bad, sizeof(bad), out, &err), 0);
}

/* A kernel that is not a PE image: no RTMR1, RTMR2 still covers cmdline and initrd; without
 * both, RTMR2 has no events (stays zero). */
static void test_non_pe_kernel(void **state)
{
  (void)state;
  cleanup_free char *kernel = tmp_path("blob"), *fw = tmp_path("tdx2.fw");
  write_bytes(kernel, "not a kernel", 12);
  assert_int_equal(synth_fw_write(fw, &(struct synth_fw){ .seed = "fw-B", .size = 524288, .tdx = true }), 0);
  struct veil_measure_input in = { .mode = VEIL_MEASURE_TDX, .firmware = fw, .kernel = kernel,
                                   .cmdline = "console=hvc0" };
  struct veil_measure_result r;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_measure(&in, &r, &err), 0);
  assert_false(r.has_rtmr1);
  assert_true(r.has_rtmr2);
  static const uint8_t zero[48];
  assert_memory_not_equal(r.rtmr2, zero, 48);
  in.cmdline = NULL;
  assert_int_equal(veil_measure(&in, &r, &err), 0);
  assert_memory_equal(r.rtmr2, zero, 48);
  /* invalid UTF-8 on the command line cannot be converted the way TDVF does */
  in.cmdline = "bad \xff byte";
  assert_int_equal(veil_measure(&in, &r, &err), -1);
  assert_non_null(strstr(err->msg, "UTF-8"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_authenticode_matches_osslsigncode),
    cmocka_unit_test(test_rtmrs_match_event_log),
    cmocka_unit_test(test_malformed_pe),
    cmocka_unit_test(test_non_pe_kernel),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
