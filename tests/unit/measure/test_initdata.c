/* initdata: annotation decoding (base64 + gzip with a decompression-bomb guard), validation,
 * digest over the raw TOML, hardware binding per TEE, and the guest disk image layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "measure/initdata.h"
#include "measure/measure_bytes.h"
#include "measure_testutil.h"

VEIL_DEFINE_CLEANUP(struct veil_initdata, veil_initdata_free)

static const char doc[] =
    "# CoCo initdata\n"
    "version = \"0.1.0\"\n"
    "algorithm = \"sha384\"\n"
    "\n"
    "[data]\n"
    "\"aa.toml\" = '''\n"
    "[token_configs]\n"
    "[token_configs.kbs]\n"
    "url = \"http://10.0.0.1:8080\"\n"
    "'''\n"
    "'cdh.toml' = \"\"\"\n"
    "socket = 'unix:///run/cdh.sock'\\n\"\"\"\n"
    "\"policy.rego\" = \"package agent_policy\\ndefault CreateContainerRequest := true\\n\"\n"
    "empty = ''\n";

/* base64(gzip(data)) as a pod annotation carries it */
static char *annotation_of(const void *data, size_t len)
{
  z_stream z = { 0 };
  assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  size_t cap = deflateBound(&z, len) + 64;
  unsigned char *gz = malloc(cap);
  z.next_in = (Bytef *)data, z.avail_in = (uInt)len, z.next_out = gz, z.avail_out = (uInt)cap;
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  size_t gz_len = cap - z.avail_out;
  deflateEnd(&z);
  char *b64 = malloc(4 * ((gz_len + 2) / 3) + 1);
  EVP_EncodeBlock((unsigned char *)b64, gz, (int)gz_len);
  free(gz);
  return b64;
}

static void expect_error(const char *annotation, int status, const char *needle)
{
  cleanup_with(veil_initdata_free) struct veil_initdata *d = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_initdata_from_annotation(annotation, &d, &err), -1);
  assert_null(d);
  assert_int_equal(err->status, status);
  if (!strstr(err->msg, needle))
    fail_msg("error `%s` does not mention `%s`", err->msg, needle);
}

static void expect_doc_error(const char *toml, const char *needle)
{
  cleanup_free char *a = annotation_of(toml, strlen(toml));
  expect_error(a, EINVAL, needle);
}

static void test_annotation_roundtrip(void **state)
{
  (void)state;
  cleanup_free char *a = annotation_of(doc, strlen(doc));
  cleanup_with(veil_initdata_free) struct veil_initdata *d = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_initdata_from_annotation(a, &d, &err) < 0)
    fail_msg("%s", err->msg);
  assert_string_equal(d->version, "0.1.0");
  assert_string_equal(d->algorithm, "sha384");
  assert_int_equal(d->toml_len, strlen(doc));
  assert_memory_equal(d->toml, doc, strlen(doc));
  /* digest = SHA-384 of the raw TOML bytes */
  uint8_t want[48];
  assert_true(EVP_Digest(doc, strlen(doc), want, NULL, EVP_sha384(), NULL));
  assert_int_equal(d->digest_len, 48);
  assert_memory_equal(d->digest, want, 48);
  /* [data] string values, decoded */
  assert_int_equal(d->n_data, 4);
  assert_string_equal(veil_initdata_get(d, "aa.toml"),
                      "[token_configs]\n[token_configs.kbs]\nurl = \"http://10.0.0.1:8080\"\n");
  assert_string_equal(veil_initdata_get(d, "cdh.toml"), "socket = 'unix:///run/cdh.sock'\n");
  assert_string_equal(veil_initdata_get(d, "policy.rego"),
                      "package agent_policy\ndefault CreateContainerRequest := true\n");
  assert_string_equal(veil_initdata_get(d, "empty"), "");
  assert_null(veil_initdata_get(d, "version"));
}

static void test_algorithms(void **state)
{
  (void)state;
  const struct { const char *name; const EVP_MD *(*md)(void); size_t len; } algs[] = {
    { "sha256", EVP_sha256, 32 }, { "sha384", EVP_sha384, 48 }, { "sha512", EVP_sha512, 64 },
  };
  for (size_t i = 0; i < 3; i++) {
    char toml[128];
    snprintf(toml, sizeof(toml), "version = \"0.1.0\"\nalgorithm = \"%s\"\n[data]\n", algs[i].name);
    cleanup_with(veil_initdata_free) struct veil_initdata *d = NULL;
    cleanup_error veil_error_t err = NULL;
    assert_int_equal(veil_initdata_from_toml(toml, strlen(toml), &d, &err), 0);
    uint8_t want[64];
    assert_true(EVP_Digest(toml, strlen(toml), want, NULL, algs[i].md(), NULL));
    assert_int_equal(d->digest_len, algs[i].len);
    assert_memory_equal(d->digest, want, algs[i].len);
  }
}

/* Kata's Go shim panics on an unknown algorithm; here it is an InvalidArgument error. */
static void test_invalid_documents(void **state)
{
  (void)state;
  expect_doc_error("version = \"0.1.0\"\nalgorithm = \"md5\"\n", "unsupported initdata algorithm `md5`");
  expect_doc_error("version = \"0.1.0\"\nalgorithm = \"SHA256\"\n", "unsupported initdata algorithm");
  expect_doc_error("algorithm = \"sha256\"\n", "no `version`");
  expect_doc_error("version = \"0.1.0\"\n", "no `algorithm`");
  expect_doc_error("version = 1\nalgorithm = \"sha256\"\n", "`version` must be a string");
  expect_doc_error("version = \"0.1.0\"\nversion = \"0.2.0\"\nalgorithm = \"sha256\"\n", "duplicate");
  expect_doc_error("version = \"0.1.0\nalgorithm = \"sha256\"\n", "line 1: unterminated string");
  expect_doc_error("version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\nx = '''never closed\n",
                   "unterminated string");
  expect_doc_error("version = \"0.1.0\" trailing\n", "unexpected text");
  expect_doc_error("version \"0.1.0\"\n", "expected `=`");
  expect_doc_error("= \"x\"\n", "expected `key = value`");
  expect_doc_error("v = \"\\q\"\n", "invalid escape");
  expect_doc_error("v = \"\\u00\"\n", "escape");
  expect_doc_error("version = \"0.1.0\"\nalgorithm = \"sha256\"\nlist = [1, 2\n", "unterminated array");
  expect_doc_error("[data\n", "malformed table header");
  /* a NUL inside the document */
  const char nul[] = "version = \"0.1.0\"\0\nalgorithm = \"sha256\"\n";
  cleanup_free char *a = annotation_of(nul, sizeof(nul) - 1);
  expect_error(a, EINVAL, "NUL");
}

/* Values of other types and other tables are skipped, not errors. */
static void test_other_toml_is_skipped(void **state)
{
  (void)state;
  const char *toml = "version = \"0.1.0\" # comment\r\n"
                     "algorithm = 'sha256'\n"
                     "n = 3\nb = true\narr = [\"a]\", [1, 2],\n  3] # c\n"
                     "inline = { a = \"}\" }\n"
                     "[other]\nversion = 5\n"
                     "[[list]]\nx = 1\n"
                     "[data]\nk = \"v\"\nnum = 7\n";
  cleanup_with(veil_initdata_free) struct veil_initdata *d = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_initdata_from_toml(toml, strlen(toml), &d, &err) < 0)
    fail_msg("%s", err->msg);
  assert_string_equal(d->algorithm, "sha256");
  assert_int_equal(d->n_data, 1);
  assert_string_equal(veil_initdata_get(d, "k"), "v");
}

static void test_bad_encoding(void **state)
{
  (void)state;
  expect_error("not base64!", EINVAL, "not valid base64");
  expect_error("QUJD", EINVAL, "not valid gzip");       /* "ABC" */
  expect_error("", EINVAL, "not valid gzip");
  expect_error("A", EINVAL, "bad length");
  /* truncated gzip stream */
  cleanup_free char *a = annotation_of(doc, strlen(doc));
  a[strlen(a) / 2 / 4 * 4] = '\0';
  expect_error(a, EINVAL, "truncated");
}

static void test_size_bounds(void **state)
{
  (void)state;
  /* annotation larger than 256 KiB */
  cleanup_free char *big = malloc(VEIL_INITDATA_MAX_ANNOTATION + 2);
  memset(big, 'A', VEIL_INITDATA_MAX_ANNOTATION + 1);
  big[VEIL_INITDATA_MAX_ANNOTATION + 1] = '\0';
  expect_error(big, E2BIG, "larger than 262144 bytes");
  /* decompression bomb: 8 MiB of zeros compress to a few KiB */
  size_t n = 8u << 20;
  cleanup_free char *zeros = calloc(1, n);
  cleanup_free char *bomb = annotation_of(zeros, n);
  assert_true(strlen(bomb) < VEIL_INITDATA_MAX_ANNOTATION);
  expect_error(bomb, E2BIG, "more than 1048576 bytes");
  /* exactly at the limit is fine as far as size goes (then fails validation) */
  cleanup_free char *limit = calloc(1, VEIL_INITDATA_MAX_TOML);
  memset(limit, '#', VEIL_INITDATA_MAX_TOML);
  cleanup_free char *at = annotation_of(limit, VEIL_INITDATA_MAX_TOML);
  expect_error(at, EINVAL, "no `version`");
}

static void test_binding(void **state)
{
  (void)state;
  uint8_t d384[48], out[64];
  for (int i = 0; i < 48; i++)
    d384[i] = (uint8_t)(i + 1);
  size_t len = 99;
  cleanup_free char *b64 = NULL;
  cleanup_error veil_error_t err = NULL;
  /* SNP host-data: 32 bytes, sha384 truncated */
  assert_int_equal(veil_initdata_binding(VEIL_TEE_SNP, d384, 48, out, &len, &b64, &err), 0);
  assert_int_equal(len, 32);
  assert_memory_equal(out, d384, 32);
  assert_string_equal(b64, "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=");
  free(b64);
  b64 = NULL;
  /* TDX mrconfigid: 48 bytes, sha256 zero-padded */
  assert_int_equal(veil_initdata_binding(VEIL_TEE_TDX, d384, 32, out, &len, &b64, &err), 0);
  assert_int_equal(len, 48);
  assert_memory_equal(out, d384, 32);
  static const uint8_t zero[16];
  assert_memory_equal(out + 32, zero, 16);
  assert_int_equal(strlen(b64), 64);
  /* SEV/SEV-ES/SE: no field to bind to */
  const enum veil_tee refuse[] = { VEIL_TEE_SEV, VEIL_TEE_SEV_ES, VEIL_TEE_SE };
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(veil_initdata_binding(refuse[i], d384, 48, out, &len, NULL, &err), -1);
    assert_int_equal(err->status, ENOTSUP);
    assert_non_null(strstr(err->msg, veil_tee_name(refuse[i])));
    veil_error_release(&err);
  }
}

static void test_disk_image(void **state)
{
  (void)state;
  cleanup_free char *a = annotation_of(doc, strlen(doc));
  cleanup_with(veil_initdata_free) struct veil_initdata *d = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_initdata_from_annotation(a, &d, &err), 0);
  char *tmp = measure_tmpdir();
  assert_non_null(tmp);
  char path[4096];
  snprintf(path, sizeof(path), "%s/initdata.img", tmp);
  assert_int_equal(veil_initdata_write_image(d, path, &err), 0);
  size_t len;
  cleanup_free unsigned char *img = measure_slurp(path, &len);
  measure_rmdir(tmp);
  assert_non_null(img);
  assert_int_equal(len % 512, 0);
  assert_true(len >= 16 + d->gzip_len && len < 16 + d->gzip_len + 512);
  assert_memory_equal(img, "initdata", 8);
  assert_int_equal(veil_le64(img + 8), d->gzip_len);
  assert_memory_equal(img + 16, d->gzip, d->gzip_len); /* the annotation's gzip bytes, as sent */
  for (size_t i = 16 + d->gzip_len; i < len; i++)
    assert_int_equal(img[i], 0);
  /* the gzip in the image inflates back to the document */
  uint8_t back[4096];
  uLongf back_len = sizeof(back);
  z_stream z = { 0 };
  assert_int_equal(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
  z.next_in = img + 16, z.avail_in = (uInt)d->gzip_len, z.next_out = back, z.avail_out = (uInt)back_len;
  assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
  assert_int_equal(z.total_out, strlen(doc));
  assert_memory_equal(back, doc, strlen(doc));
  inflateEnd(&z);
  /* an unwritable path is an error naming it */
  assert_int_equal(veil_initdata_write_image(d, "/nonexistent-dir/x.img", &err), -1);
  assert_non_null(strstr(err->msg, "initdata image"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_annotation_roundtrip),
    cmocka_unit_test(test_algorithms),
    cmocka_unit_test(test_invalid_documents),
    cmocka_unit_test(test_other_toml_is_skipped),
    cmocka_unit_test(test_bad_encoding),
    cmocka_unit_test(test_size_bounds),
    cmocka_unit_test(test_binding),
    cmocka_unit_test(test_disk_image),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
