/* The initdata contract both sides use (common/initdata.h): the disk image layout, its header
 * bounds, multi-member and bounded gunzip, the digest algorithms and the agent's
 * "initdata-digest=" report. Images are also built by hand here (zlib directly), so the
 * reader is checked against the layout, not only against its own writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/cleanup.h"
#include "common/initdata.h"

VEIL_DEFINE_CLEANUP(struct veil_initdata, veil_initdata_free)

static const char doc[] = "version = \"0.1.0\"\nalgorithm = \"sha384\"\n[data]\nk = \"v\"\n";

/* Append one gzip member of data to buf at *at. */
static void gzip_member(uint8_t *buf, size_t cap, size_t *at, const void *data, size_t len)
{
  z_stream z = { 0 };
  assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (Bytef *)data, z.avail_in = (uInt)len;
  z.next_out = buf + *at, z.avail_out = (uInt)(cap - *at);
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  *at += z.total_out;
  deflateEnd(&z);
}

/* "initdata" le64(gzip length) gzip, padded to 512: the members given, in order. */
static uint8_t *image_of(const char *const *members, const size_t *lens, size_t n, size_t *len)
{
  size_t cap = 16 + 4096;
  for (size_t i = 0; i < n; i++)
    cap += compressBound((uLong)lens[i]) + 64;
  uint8_t *img = calloc(1, cap + 512);
  assert_non_null(img);
  size_t at = 16;
  for (size_t i = 0; i < n; i++)
    gzip_member(img, cap, &at, members[i], lens[i]);
  memcpy(img, "initdata", 8);
  for (int i = 0; i < 8; i++)
    img[8 + i] = (uint8_t)((at - 16) >> (8 * i));
  *len = (at + 511) / 512 * 512;
  return img;
}

static void test_image_round_trip(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  cleanup_with(veil_initdata_free) struct veil_initdata *d = calloc(1, sizeof(*d));
  d->toml = strdup(doc), d->toml_len = strlen(doc);
  assert_int_equal(veil_initdata_parse(d, &err), 0);
  assert_int_equal(veil_initdata_gzip(d->toml, d->toml_len, &d->gzip, &d->gzip_len, &err), 0);
  cleanup_free uint8_t *img = NULL;
  size_t len = 0;
  assert_int_equal(veil_initdata_image_build(d, &img, &len, &err), 0);
  assert_int_equal(len % 512, 0);
  assert_memory_equal(img, "initdata", 8);
  cleanup_with(veil_initdata_free) struct veil_initdata *back = NULL;
  assert_int_equal(veil_initdata_from_image(img, len, &back, &err), 0);
  assert_int_equal(back->toml_len, d->toml_len);
  assert_memory_equal(back->toml, doc, d->toml_len);
  assert_string_equal(back->algorithm, "sha384");
  assert_int_equal(back->digest_len, 48);
  assert_memory_equal(back->digest, d->digest, 48);
  assert_string_equal(veil_initdata_get(back, "k"), "v");
  /* nothing to write: refused before the guest would refuse it */
  d->gzip_len = 0;
  assert_int_equal(veil_initdata_image_build(d, &img, &len, &err), -1);
}

/* A gzip stream may hold several members (gzip(1) of concatenated files): the document is
 * all of them, on both sides. */
static void test_multi_member_gzip(void **state)
{
  (void)state;
  const char *parts[] = { "version = \"0.1.0\"\n", "algorithm = \"sha256\"\n[data]\nk = \"v\"\n" };
  const size_t lens[] = { strlen(parts[0]), strlen(parts[1]) };
  size_t len;
  cleanup_free uint8_t *img = image_of(parts, lens, 2, &len);
  cleanup_error veil_error_t err = NULL;
  cleanup_with(veil_initdata_free) struct veil_initdata *d = NULL;
  if (veil_initdata_from_image(img, len, &d, &err) < 0)
    fail_msg("%s", err->msg);
  char whole[128];
  snprintf(whole, sizeof(whole), "%s%s", parts[0], parts[1]);
  assert_string_equal(d->toml, whole);
  uint8_t want[32];
  assert_true(EVP_Digest(whole, strlen(whole), want, NULL, EVP_sha256(), NULL));
  assert_memory_equal(d->digest, want, 32);
  /* a member followed by bytes that are no gzip: corrupt, not silently ignored */
  const char *one[] = { whole };
  const size_t one_len[] = { strlen(whole) };
  cleanup_free uint8_t *bad = image_of(one, one_len, 1, &len);
  uint64_t glen = 0;
  for (int i = 7; i >= 0; i--)
    glen = glen << 8 | bad[8 + i];
  memcpy(bad + 16 + glen, "junk", 4);
  bad[8] = (uint8_t)(glen + 4); /* glen < 252 here: only the low byte changes */
  assert_int_equal(veil_initdata_from_image(bad, len, &d, &err), -1);
  assert_non_null(strstr(err->msg, "not valid gzip"));
}

static void test_header_bounds(void **state)
{
  (void)state;
  uint8_t head[16] = "initdata";
  uint64_t glen = 7;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_initdata_image_header((const uint8_t *)"not-initdata....", 16, &glen, &err), 0);
  assert_null(err);
  assert_int_equal(veil_initdata_image_header(head, 8, &glen, &err), 0); /* too short */
  assert_int_equal(veil_initdata_image_header(head, 16, &glen, &err), -1); /* length 0 */
  veil_error_release(&err);
  head[8] = 1;
  assert_int_equal(veil_initdata_image_header(head, 16, &glen, &err), 1);
  assert_int_equal(glen, 1);
  uint64_t over = VEIL_INITDATA_MAX_GZIP + 1ull;
  for (int i = 0; i < 8; i++)
    head[8 + i] = (uint8_t)(over >> (8 * i));
  assert_int_equal(veil_initdata_image_header(head, 16, &glen, &err), -1);
  assert_int_equal(err->status, EINVAL);
  assert_non_null(strstr(err->msg, "gzip"));
}

/* The same 1 MiB limit as the host: a small image that inflates past it is refused. */
static void test_decompression_bomb(void **state)
{
  (void)state;
  size_t n = 2u << 20;
  cleanup_free char *zeros = calloc(1, n);
  const char *parts[] = { zeros };
  const size_t lens[] = { n };
  size_t len;
  cleanup_free uint8_t *img = image_of(parts, lens, 1, &len);
  assert_true(len < 64 * 1024);
  cleanup_error veil_error_t err = NULL;
  struct veil_initdata *d = NULL;
  assert_int_equal(veil_initdata_from_image(img, len, &d, &err), -1);
  assert_int_equal(err->status, E2BIG);
  assert_non_null(strstr(err->msg, "more than 1048576 bytes"));
  assert_null(d);
}

static void test_digest_feature(void **state)
{
  (void)state;
  const struct { const char *name; size_t len; } algs[] = { { "sha256", 32 }, { "sha384", 48 },
                                                            { "sha512", 64 } };
  uint8_t digest[64];
  for (size_t i = 0; i < sizeof(digest); i++)
    digest[i] = (uint8_t)(0xf0 + i);
  for (size_t i = 0; i < 3; i++) {
    cleanup_free char *f = veil_initdata_digest_feature(algs[i].name, digest, algs[i].len);
    assert_int_equal(strlen(f), strlen("initdata-digest=") + strlen(algs[i].name) + 1 + 2 * algs[i].len);
    assert_memory_equal(f, "initdata-digest=", 16);
    char alg[16];
    uint8_t back[64];
    size_t len = 0;
    cleanup_error veil_error_t err = NULL;
    assert_int_equal(veil_initdata_digest_feature_parse(f, alg, back, &len, &err), 0);
    assert_string_equal(alg, algs[i].name);
    assert_int_equal(len, algs[i].len);
    assert_memory_equal(back, digest, len);
  }
  cleanup_free char *f = veil_initdata_digest_feature("sha256", digest, 2);
  assert_string_equal(f, "initdata-digest=sha256:f0f1");
  /* what a guest may send instead */
  const struct { const char *in, *needle; } bad[] = {
    { "initdata-sha256:00", "not an `initdata-digest=" },
    { "initdata-digest=", "malformed" },
    { "initdata-digest=sha256", "malformed" },
    { "initdata-digest=md5:00", "unknown algorithm `md5`" },
    { "initdata-digest=averyveryverylongname:00", "malformed" },
    { "initdata-digest=sha256:00", "2 hex digits (want 64)" },
    { "initdata-digest=sha256:EC432606698641F33D970E8BA0655EC98EE420D10078C18BA13C18C0753D4F5C",
      "lowercase hex" },
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    char alg[16];
    uint8_t back[64];
    size_t len = 0;
    cleanup_error veil_error_t err = NULL;
    assert_int_equal(veil_initdata_digest_feature_parse(bad[i].in, alg, back, &len, &err), -1);
    if (!strstr(err->msg, bad[i].needle))
      fail_msg("`%s`: error `%s` lacks `%s`", bad[i].in, err->msg, bad[i].needle);
  }
}

static void test_digest_algorithms(void **state)
{
  (void)state;
  uint8_t out[64], want[64];
  size_t len = 0;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_initdata_digest("sha512", doc, strlen(doc), out, &len, &err), 0);
  assert_true(EVP_Digest(doc, strlen(doc), want, NULL, EVP_sha512(), NULL));
  assert_int_equal(len, 64);
  assert_memory_equal(out, want, 64);
  assert_int_equal(veil_initdata_digest("SHA256", doc, strlen(doc), out, &len, &err), -1);
  assert_non_null(strstr(err->msg, "use sha256, sha384 or sha512"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_image_round_trip),
    cmocka_unit_test(test_multi_member_gzip),
    cmocka_unit_test(test_header_bounds),
    cmocka_unit_test(test_decompression_bomb),
    cmocka_unit_test(test_digest_feature),
    cmocka_unit_test(test_digest_algorithms),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
