/* `veil measure` as a user runs it: the real binary, real files. Bad input (corrupt firmware,
 * unknown mode or vCPU type, missing file) is a clear message and exit status 1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdbool.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "measure/measure_bytes.h"
#include "measure_testutil.h"

VEIL_DEFINE_CLEANUP(json_t, json_decref)

static char *tmp;
static char veil[4096];
static char *out_text, *err_text;

static int setup(void **state)
{
  (void)state;
  snprintf(veil, sizeof(veil), "%s/cli/veil", getenv("VEIL_BUILD_ROOT") ? getenv("VEIL_BUILD_ROOT") : ".");
  tmp = measure_tmpdir();
  return tmp ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  measure_rmdir(tmp);
  free(out_text);
  free(err_text);
  return 0;
}

/* Run `veil measure ARGS...`; stdout/stderr land in out_text/err_text. Returns exit status. */
static int run_measure(const char *first, ...)
{
  char *argv[32] = { veil, (char *)"measure" };
  size_t n = 2;
  va_list ap;
  va_start(ap, first);
  for (const char *a = first; a && n < 31; a = va_arg(ap, const char *))
    argv[n++] = (char *)a;
  va_end(ap);
  argv[n] = NULL;
  char out_path[4200], err_path[4200];
  snprintf(out_path, sizeof(out_path), "%s/stdout", tmp);
  snprintf(err_path, sizeof(err_path), "%s/stderr", tmp);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(o, 1);
    dup2(e, 2);
    execv(veil, argv);
    _exit(127);
  }
  int status;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  free(out_text);
  free(err_text);
  size_t len;
  out_text = (char *)measure_slurp(out_path, &len);
  err_text = (char *)measure_slurp(err_path, &len);
  assert_non_null(out_text);
  assert_non_null(err_text);
  return WEXITSTATUS(status);
}

static void expect_failure(const char *needle)
{
  if (!strstr(err_text, needle))
    fail_msg("stderr `%s` does not mention `%s`", err_text, needle);
  assert_non_null(strstr(err_text, "veil measure: "));
  assert_string_equal(out_text, "");
}

static char *path_in_tmp(const char *name)
{
  char *p = NULL;
  assert_true(asprintf(&p, "%s/%s", tmp, name) > 0);
  return p;
}

static char *synth_firmware(const char *name, bool tdx)
{
  char *p = path_in_tmp(name);
  assert_int_equal(synth_fw_write(p, &(struct synth_fw){ .seed = "fw-A", .size = 524288, .tdx = tdx }), 0);
  return p;
}

static void write_text(const char *path, const char *text)
{
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_write_file_atomic(path, text, strlen(text), 0644, &err), 0);
}

static void test_low_level_modes(void **state)
{
  (void)state;
  assert_int_equal(run_measure("--mode", "snp", "--ovmf", DEBIAN_OVMF, "--vcpu-type", "EPYC-Milan",
                               "--guest-features", "0x21", NULL), 0);
  assert_string_equal(out_text, "179c6ad39ad318c8c8d18444634df7217b63695830f1cde0b2f01fe53d2cd2f4"
                                "d39207f50bf659554e2f5ec4ee0f72b6\n");
  assert_int_equal(run_measure("--mode", "sev", "--ovmf", DEBIAN_OVMF, NULL), 0);
  assert_string_equal(out_text, "7b456907dd0786d415999e801a1ac4637b8ed4d7cf5378cfc6edbe5e574dd773\n");
  assert_int_equal(run_measure("--mode", "tdx", "--ovmf", DEBIAN_OVMF, "--json", NULL), 0);
  json_error_t jerr;
  cleanup_with(json_decref) json_t *j = json_loads(out_text, 0, &jerr);
  assert_non_null(j);
  assert_string_equal(json_string_value(json_array_get(json_object_get(j, "mr_td"), 0)),
                      "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb231c47");
  assert_int_equal(run_measure("--mode", "tdx", "--ovmf", DEBIAN_OVMF, "--two-pass", NULL), 0);
  assert_null(strstr(out_text, "4c7206f0f483c524"));
  assert_int_equal(strlen(out_text), 97);
}

static void test_corrupt_firmware(void **state)
{
  (void)state;
  cleanup_free char *fw = synth_firmware("corrupt.fw", true);
  size_t len;
  cleanup_free unsigned char *img = measure_slurp(fw, &len);
  assert_non_null(img);
  img[len - 0x600] = 'X'; /* the "ASEV" signature */
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_write_file_atomic(fw, img, len, 0644, &err), 0);
  assert_int_equal(run_measure("--mode", "snp", "--ovmf", fw, NULL), 1);
  expect_failure("corrupt OVMF SEV metadata: wrong signature");
  assert_non_null(strstr(err_text, fw));
  /* a file that is no OVMF at all */
  cleanup_free char *junk = path_in_tmp("junk.fw");
  write_text(junk, "this is not a firmware image");
  assert_int_equal(run_measure("--mode", "tdx", "--ovmf", junk, NULL), 1);
  expect_failure("too small");
  assert_int_equal(run_measure("--mode", "seves", "--ovmf", "/etc/hostname", NULL), 1);
  expect_failure("veil measure: ");
}

static void test_bad_arguments(void **state)
{
  (void)state;
  assert_int_equal(run_measure("--mode", "sev-snp", "--ovmf", DEBIAN_OVMF, NULL), 1);
  expect_failure("unknown mode `sev-snp`");
  assert_int_equal(run_measure("--mode", "snp", "--ovmf", DEBIAN_OVMF, "--vcpu-type", "EPYC-Zen9", NULL), 1);
  expect_failure("unknown vCPU type `EPYC-Zen9`");
  assert_int_equal(run_measure("--mode", "snp", "--ovmf", "/nonexistent/OVMF.fd", NULL), 1);
  expect_failure("/nonexistent/OVMF.fd");
  assert_non_null(strstr(err_text, "No such file"));
  assert_int_equal(run_measure("--mode", "snp", "--ovmf", DEBIAN_OVMF, "--kernel", "/nonexistent/vmlinuz", NULL), 1);
  expect_failure("/nonexistent/vmlinuz");
  assert_int_equal(run_measure("--mode", "snp", "--ovmf", DEBIAN_OVMF, "--vcpus", "0", NULL), 1);
  expect_failure("vCPU count 0");
  assert_int_equal(run_measure("--mode", "snp", "--ovmf", DEBIAN_OVMF, "--vcpus", "two", NULL), 1);
  expect_failure("invalid --vcpus `two`");
  assert_int_equal(run_measure("--mode", "snp", NULL), 1);
  expect_failure("--ovmf");
  assert_int_equal(run_measure("--bogus", NULL), 1);
  assert_non_null(strstr(err_text, "unknown or incomplete option"));
  /* a kernel with a firmware that cannot measure it */
  assert_int_equal(run_measure("--mode", "snp", "--ovmf", DEBIAN_OVMF, "--kernel", DEBIAN_OVMF, NULL), 1);
  expect_failure("SNP_KERNEL_HASHES");
}

/* The shipped dev config prints a clear "no TEE" result (the done criterion). */
static void test_config_dev(void **state)
{
  (void)state;
  char cfg[4096];
  snprintf(cfg, sizeof(cfg), "%s/configs/dev.json", getenv("VEIL_SOURCE_ROOT"));
  assert_int_equal(run_measure("--config", cfg, NULL), 0);
  assert_non_null(strstr(out_text, "profile: dev\n"));
  assert_non_null(strstr(out_text, "tee: none\n"));
  assert_non_null(strstr(out_text, "no launch measurement"));
  assert_int_equal(run_measure("--config", cfg, "--json", NULL), 0);
  assert_string_equal(out_text, "{}\n");
}

static void test_config_snp_with_initdata(void **state)
{
  (void)state;
  cleanup_free char *fw = synth_firmware("snp.fw", false);
  cleanup_free char *kernel = path_in_tmp("k1"), *initrd = path_in_tmp("i1");
  assert_int_equal(measure_write_blob(kernel, "k1", 1048699), 0);
  assert_int_equal(measure_write_blob(initrd, "i1", 300001), 0);
  cleanup_free char *cfg = path_in_tmp("snp.json"), *text = NULL;
  assert_true(asprintf(&text, "{\"profile\":\"snp\",\"firmware\":\"%s\",\"kernel\":\"%s\","
                              "\"initrd\":\"%s\",\"kernel_params\":\"console=ttyS0 root=/dev/vda1 ro\","
                              "\"vcpus\":1,\"vcpu_type\":\"EPYC-v4\",\"guest_features\":1}",
                       fw, kernel, initrd) > 0);
  write_text(cfg, text);
  cleanup_free char *idf = path_in_tmp("initdata.toml");
  const char *toml = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n[data]\n";
  write_text(idf, toml);
  assert_int_equal(run_measure("--config", cfg, "--initdata", idf, NULL), 0);
  assert_non_null(strstr(out_text, "snp_launch_measurement: d33c00af0de398ae30ba467902a373fd3d4a3f27"
                                   "82950a49ce2bb4ede606b29b9d7797cd7b84bddc15879c914f89beb1\n"));
  assert_non_null(strstr(out_text, "vcpu_signature: 0x800f12\n"));
  uint8_t want[32];
  char hex[65];
  assert_true(EVP_Digest(toml, strlen(toml), want, NULL, EVP_sha256(), NULL));
  veil_hex(want, 32, hex);
  assert_true(strstr(out_text, "init_data: ") && strstr(out_text, hex));
  /* --vcpus overrides the config's count; JSON is RVPS-shaped */
  assert_int_equal(run_measure("--config", cfg, "--vcpus", "2", "--json", NULL), 0);
  json_error_t jerr;
  cleanup_with(json_decref) json_t *j = json_loads(out_text, 0, &jerr);
  assert_non_null(j);
  json_t *m = json_object_get(j, "snp_launch_measurement");
  assert_int_equal(json_array_size(m), 1);
  assert_int_equal(strlen(json_string_value(json_array_get(m, 0))), 96);
  assert_null(strstr(out_text, "d33c00af"));
  /* --config does not mix with low-level inputs */
  assert_int_equal(run_measure("--config", cfg, "--mode", "snp", NULL), 1);
  expect_failure("--config takes its inputs from the config");
  /* invalid initdata is an error, not a crash */
  write_text(idf, "version = \"0.1.0\"\nalgorithm = \"crc32\"\n");
  assert_int_equal(run_measure("--config", cfg, "--initdata", idf, NULL), 1);
  expect_failure("unsupported initdata algorithm `crc32`");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_low_level_modes),
    cmocka_unit_test(test_corrupt_firmware),
    cmocka_unit_test(test_bad_arguments),
    cmocka_unit_test(test_config_dev),
    cmocka_unit_test(test_config_snp_with_initdata),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
