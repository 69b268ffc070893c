/* Every row of testdata/measure/vectors.tsv and vectors_tdx.tsv (expected values computed by
 * sev-snp-measure and td-shim's tools) must match bit for bit. Inputs are regenerated with the
 * data set's own scripts into a scratch dir; the Debian OVMF is /usr/share/ovmf/OVMF.fd. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "hypervisor/measure.h"
#include "hypervisor/measure_launch.h"
#include "hypervisor/measure_bytes.h"
#include "hypervisor/vmsa.h"
#include "measure_testutil.h"

VEIL_DEFINE_CLEANUP(json_t, json_decref)
VEIL_DEFINE_CLEANUP(struct veil_config, veil_config_free)

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
  tmp = NULL;
  return 0;
}

/* "debian-ovmf" or synth:<seed>:<size>[:eip=<hex>][:tdx][:aug][:cfv=<hex>] -> a file path */
static char *firmware_for(const char *spec, const char *id)
{
  if (strcmp(spec, "debian-ovmf") == 0)
    return strdup(DEBIAN_OVMF);
  char *out = NULL, *copy = strdup(spec), *save = NULL;
  assert_true(asprintf(&out, "%s/%s.fw", tmp, id) > 0);
  const char *args[16] = { 0 };
  size_t n = 0;
  char *kind = strtok_r(copy, ":", &save), *seed = strtok_r(NULL, ":", &save),
       *size = strtok_r(NULL, ":", &save);
  assert_string_equal(kind, "synth");
  assert_non_null(size);
  args[n++] = "--seed", args[n++] = seed, args[n++] = "--size", args[n++] = size;
  args[n++] = "--out", args[n++] = out;
  for (char *opt; (opt = strtok_r(NULL, ":", &save));) {
    if (strncmp(opt, "eip=", 4) == 0)
      args[n++] = "--reset-eip", args[n++] = opt + 4;
    else if (strcmp(opt, "tdx") == 0)
      args[n++] = "--tdx";
    else if (strcmp(opt, "aug") == 0)
      args[n++] = "--tdx-aug";
    else if (strncmp(opt, "cfv=", 4) == 0)
      args[n++] = "--cfv-size", args[n++] = opt + 4;
    else
      fail_msg("unknown firmware option `%s` in `%s`", opt, spec);
  }
  assert_int_equal(measure_gen("synth_fw.py", args), 0);
  free(copy);
  return out;
}

/* "none" -> NULL, gen:<seed>:<size> -> a file */
static char *blob_for(const char *spec, const char *id, const char *what)
{
  if (strcmp(spec, "none") == 0)
    return NULL;
  char *out = NULL, *copy = strdup(spec), *save = NULL;
  assert_true(asprintf(&out, "%s/%s.%s", tmp, id, what) > 0);
  char *kind = strtok_r(copy, ":", &save), *seed = strtok_r(NULL, ":", &save),
       *size = strtok_r(NULL, ":", &save);
  assert_string_equal(kind, "gen");
  assert_non_null(size);
  const char *args[] = { "--seed", seed, "--size", size, "--out", out, NULL };
  assert_int_equal(measure_gen("gen_blob.py", args), 0);
  free(copy);
  return out;
}

/* Split a TSV line in place; empty fields are kept. */
static size_t split_tsv(char *line, char **fields, size_t max)
{
  size_t n = 0;
  line[strcspn(line, "\r\n")] = '\0';
  for (char *p = line; n < max;) {
    fields[n++] = p;
    char *tab = strchr(p, '\t');
    if (!tab)
      break;
    *tab = '\0';
    p = tab + 1;
  }
  return n;
}

static void check_row(char **f, int *checked, int *failed)
{
  const char *id = f[0], *expected = f[9];
  struct veil_measure_input in = { .vcpus = (unsigned)strtoul(f[3], NULL, 0) };
  if (veil_measure_mode_parse(f[2], &in.mode) < 0)
    fail_msg("%s: unknown mode %s", id, f[2]);
  if (strcmp(f[4], "-") != 0 && veil_vcpu_sig_by_name(f[4], &in.vcpu_sig) < 0)
    fail_msg("%s: unknown vCPU type %s", id, f[4]);
  in.guest_features = strcmp(f[5], "-") ? strtoull(f[5], NULL, 0) : 0;
  cleanup_free char *fw = firmware_for(f[1], id);
  cleanup_free char *kernel = blob_for(f[6], id, "kernel");
  cleanup_free char *initrd = blob_for(f[7], id, "initrd");
  in.firmware = fw, in.kernel = kernel, in.initrd = initrd, in.cmdline = f[8];
  struct veil_measure_result r;
  cleanup_error veil_error_t err = NULL;
  if (veil_measure(&in, &r, &err) < 0)
    fail_msg("%s: %s", id, err->msg);
  char hex[97];
  veil_hex(r.digest, r.digest_len, hex);
  (*checked)++;
  if (strcmp(hex, expected) != 0) {
    (*failed)++;
    print_error("%s: got %s want %s\n", id, hex, expected);
  }
}

static void test_sev_snp_vectors(void **state)
{
  (void)state;
  char path[4096];
  snprintf(path, sizeof(path), "%s/vectors.tsv", measure_data_dir());
  cleanup_file FILE *f = fopen(path, "r");
  if (!f)
    fail_msg("cannot open %s (set VEIL_SHARED_DIR)", path);
  char line[4096];
  int checked = 0, failed = 0;
  assert_non_null(fgets(line, sizeof(line), f)); /* header */
  while (fgets(line, sizeof(line), f)) {
    char *fields[12];
    if (line[0] == '\n' || line[0] == '#')
      continue;
    if (split_tsv(line, fields, 12) != 10)
      fail_msg("malformed row in %s: %s", path, line);
    check_row(fields, &checked, &failed);
  }
  print_message("checked %d SEV/SEV-ES/SNP vectors, %d mismatches\n", checked, failed);
  assert_true(checked >= 10);
  assert_int_equal(failed, 0);
}

static void test_tdx_mrtd_vectors(void **state)
{
  (void)state;
  char path[4096];
  snprintf(path, sizeof(path), "%s/vectors_tdx.tsv", measure_data_dir());
  cleanup_file FILE *f = fopen(path, "r");
  if (!f)
    fail_msg("cannot open %s (set VEIL_SHARED_DIR)", path);
  char line[4096];
  int checked = 0, failed = 0;
  assert_non_null(fgets(line, sizeof(line), f));
  while (fgets(line, sizeof(line), f)) {
    char *fields[4];
    if (line[0] == '\n' || line[0] == '#')
      continue;
    if (split_tsv(line, fields, 4) != 3)
      fail_msg("malformed row in %s: %s", path, line);
    cleanup_free char *fw = firmware_for(fields[1], fields[0]);
    struct veil_measure_input in = { .mode = VEIL_MEASURE_TDX, .firmware = fw };
    struct veil_measure_result r, two;
    cleanup_error veil_error_t err = NULL;
    if (veil_measure(&in, &r, &err) < 0)
      fail_msg("%s: %s", fields[0], err->msg);
    char hex[97];
    veil_hex(r.digest, r.digest_len, hex);
    checked++;
    if (strcmp(hex, fields[2]) != 0) {
      failed++;
      print_error("%s: got %s want %s\n", fields[0], hex, fields[2]);
    }
    /* the two-pass order is a different, equally deterministic value */
    in.tdx_two_pass = true;
    assert_int_equal(veil_measure(&in, &two, &err), 0);
    assert_memory_not_equal(two.digest, r.digest, 48);
    assert_false(r.has_rtmr1 || r.has_rtmr2);
  }
  print_message("checked %d TDX MRTD vectors, %d mismatches\n", checked, failed);
  assert_true(checked >= 2);
  assert_int_equal(failed, 0);
}

/* The shim's entry point, for an SNP config describing the syn-snp-26 row, records that row's
 * value as the RVPS reference value, plus the initdata digest. */
static void test_launch_snp_config_matches_vector(void **state)
{
  (void)state;
  cleanup_free char *fw = firmware_for("synth:fw-A:524288", "launch");
  cleanup_free char *kernel = blob_for("gen:k1:1048699", "launch", "kernel");
  cleanup_free char *initrd = blob_for("gen:i1:300001", "launch", "initrd");
  cleanup_with(json_decref) json_t *j = json_pack(
      "{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:b}", "profile", "snp", "firmware", fw, "kernel",
      kernel, "initrd", initrd, "kernel_params", "console=ttyS0 root=/dev/vda1 ro", "vcpus", 1,
      "vcpu_type", "EPYC-v4", "guest_features", 1, "kernel_hashes", 1);
  cleanup_free char *text = json_dumps(j, 0);
  cleanup_with(veil_config_free) struct veil_config *cfg = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_config_parse("test-snp.json", text, strlen(text), &cfg, &err) < 0)
    fail_msg("%s", err->msg);
  const uint8_t digest[48] = { 0xaa, 0xbb };
  cleanup_with(json_decref) json_t *out = NULL;
  if (veil_measure_for_launch(cfg, 0, digest, sizeof(digest), &out, &err) < 0)
    fail_msg("%s", err->msg);
  json_t *refs = json_object_get(out, "reference_values");
  assert_string_equal(json_string_value(json_array_get(json_object_get(refs, "snp_launch_measurement"), 0)),
                      "d33c00af0de398ae30ba467902a373fd3d4a3f2782950a49ce2bb4ede606b29b9d7797cd7b84bddc15879c914f89beb1");
  const char *init = json_string_value(json_array_get(json_object_get(refs, "init_data"), 0));
  assert_non_null(init);
  assert_int_equal(strlen(init), 96);
  assert_memory_equal(init, "aabb0000", 8);
  assert_string_equal(json_string_value(json_object_get(out, "tee")), "snp");
  assert_string_equal(json_string_value(json_object_get(json_object_get(out, "inputs"), "cmdline")),
                      "console=ttyS0 root=/dev/vda1 ro");
  /* 2 vCPUs are a different measurement (one more VMSA) */
  cleanup_with(json_decref) json_t *two = NULL;
  assert_int_equal(veil_measure_for_launch(cfg, 2, NULL, 0, &two, &err), 0);
  assert_string_not_equal(
      json_string_value(json_array_get(json_object_get(json_object_get(two, "reference_values"),
                                                       "snp_launch_measurement"), 0)),
      "d33c00af0de398ae30ba467902a373fd3d4a3f2782950a49ce2bb4ede606b29b9d7797cd7b84bddc15879c914f89beb1");
  assert_null(json_object_get(json_object_get(two, "reference_values"), "init_data"));
}

/* The dev profile has no TEE: the recorded object says so and has no reference values. */
static void test_launch_dev_config_says_no_tee(void **state)
{
  (void)state;
  const char *text = "{\"profile\":\"dev\"}";
  cleanup_with(veil_config_free) struct veil_config *cfg = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_config_parse("test-dev.json", text, strlen(text), &cfg, &err) < 0)
    fail_msg("%s", err->msg);
  cleanup_with(json_decref) json_t *out = NULL;
  assert_int_equal(veil_measure_for_launch(cfg, 0, NULL, 0, &out, &err), 0);
  assert_string_equal(json_string_value(json_object_get(out, "tee")), "none");
  assert_int_equal(json_object_size(json_object_get(out, "reference_values")), 0);
  assert_non_null(strstr(json_string_value(json_object_get(out, "note")), "no TEE"));
  /* what the shim writes into the sandbox state dir */
  struct veil_vm_spec spec = { .config = cfg, .vcpus = 2, .extra_kernel_params = "agent.log=debug" };
  assert_int_equal(veil_measure_record(&spec, tmp, &err), 0);
  char path[4096];
  snprintf(path, sizeof(path), "%s/%s", tmp, VEIL_MEASUREMENT_FILE);
  json_error_t jerr;
  cleanup_with(json_decref) json_t *rec = json_load_file(path, 0, &jerr);
  assert_non_null(rec);
  assert_string_equal(json_string_value(json_object_get(rec, "tee")), "none");
  json_t *in = json_object_get(rec, "inputs");
  assert_int_equal(json_integer_value(json_object_get(in, "vcpus")), 2);
  assert_string_equal(json_string_value(json_object_get(in, "cmdline")),
                      "console=ttyS0 quiet panic=-1 agent.log=debug");
  /* an unwritable state dir is an error naming the step */
  assert_int_equal(veil_measure_record(&spec, "/nonexistent-state-dir", &err), -1);
  assert_non_null(strstr(err->msg, "record measurement"));
}

/* TDX config: MRTD of the firmware plus RTMR2 over the command line and initrd. */
static void test_launch_tdx_config_rtmrs(void **state)
{
  (void)state;
  cleanup_free char *fw = firmware_for("synth:fw-A:524288:tdx", "launch-tdx");
  cleanup_free char *kernel = blob_for("gen:k1:4096", "launch-tdx", "kernel");
  cleanup_free char *initrd = blob_for("gen:i1:5000", "launch-tdx", "initrd");
  cleanup_with(json_decref) json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "profile", "tdx",
                                                  "firmware", fw, "kernel", kernel, "initrd", initrd,
                                                  "kernel_params", "console=hvc0");
  cleanup_free char *text = json_dumps(j, 0);
  cleanup_with(veil_config_free) struct veil_config *cfg = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_config_parse("test-tdx.json", text, strlen(text), &cfg, &err) < 0)
    fail_msg("%s", err->msg);
  cleanup_with(json_decref) json_t *out = NULL;
  if (veil_measure_for_launch(cfg, 0, NULL, 0, &out, &err) < 0)
    fail_msg("%s", err->msg);
  json_t *refs = json_object_get(out, "reference_values");
  assert_string_equal(json_string_value(json_array_get(json_object_get(refs, "mr_td"), 0)),
                      "0490f728e23cf1d7af52036187731e77818e447cdd2e07f7d9d2f1151bfea9aeb1523c4f38ff570d6bba2a63685b0260");
  assert_null(json_object_get(refs, "rtmr_1")); /* the generated kernel is not a PE image */
  const char *rtmr2 = json_string_value(json_array_get(json_object_get(refs, "rtmr_2"), 0));
  assert_non_null(rtmr2);
  assert_int_equal(strlen(rtmr2), 96);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_sev_snp_vectors),
    cmocka_unit_test(test_tdx_mrtd_vectors),
    cmocka_unit_test(test_launch_snp_config_matches_vector),
    cmocka_unit_test(test_launch_dev_config_says_no_tee),
    cmocka_unit_test(test_launch_tdx_config_rtmrs),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
