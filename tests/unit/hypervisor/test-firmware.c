/* Firmware selection from QEMU descriptors: Debian's real ovmf descriptors, and fake
 * descriptor dirs for what Debian does not ship (SNP, TDX builds). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_tree.h"
#include "hypervisor/firmware.h"

static void test_debian_descriptors_sev(void **state)
{
  (void)state;
  cleanup_free char *path = NULL;
  cleanup_error veil_error_t err = NULL;
  enum veil_fw_mapping m;
  /* 40-/50- need SMM (secure boot); 60-edk2-x86_64.json is the plain amd-sev flash build */
  if (veil_firmware_select(NULL, "/", VEIL_TEE_SEV, &path, &m, &err) < 0)
    fail_msg("%s", err->msg);
  assert_string_equal(path, "/usr/share/OVMF/OVMF_CODE_4M.fd");
  assert_int_equal(m, VEIL_FW_FLASH);
}

static void test_debian_descriptors_no_snp_tdx(void **state)
{
  (void)state;
  enum veil_tee tees[] = { VEIL_TEE_SEV_ES, VEIL_TEE_SNP, VEIL_TEE_TDX };
  const char *feat[] = { "amd-sev-es", "amd-sev-snp", "intel-tdx" };
  for (int i = 0; i < 3; i++) {
    cleanup_free char *path = NULL;
    cleanup_error veil_error_t err = NULL;
    assert_int_equal(veil_firmware_select(NULL, "/", tees[i], &path, NULL, &err), -1);
    assert_null(path);
    /* every descriptor considered is listed with its reason */
    assert_non_null(strstr(err->msg, "40-edk2-x86_64-secure-enrolled.json: lacks feature"));
    assert_non_null(strstr(err->msg, "60-edk2-x86_64.json: lacks feature"));
    assert_non_null(strstr(err->msg, feat[i]));
  }
}

static void test_fake_dirs_snp_tdx_pick_memory_mapping(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  char fw[4096], d1[4096];
  snprintf(fw, sizeof(fw), "%s/fw/AMDSEV.fd", root);
  fake_write(root, "fw/AMDSEV.fd", "fw");
  snprintf(d1, sizeof(d1), "%s/desc", root);
  cleanup_free char *flash = fake_descriptor("flash", fw, "\"amd-sev\",\"amd-sev-es\",\"amd-sev-snp\"");
  cleanup_free char *mem = fake_descriptor("memory", fw, "\"amd-sev\",\"amd-sev-es\",\"amd-sev-snp\"");
  cleanup_free char *tdx = fake_descriptor("memory", "/nonexistent/OVMF.inteltdx.fd", "\"intel-tdx\"");
  fake_write(root, "desc/10-flash.json", flash);
  fake_write(root, "desc/20-memory.json", mem);
  fake_write(root, "desc/30-tdx.json", tdx);
  fake_write(root, "desc/README", "not a descriptor");
  const char *dirs[] = { d1, NULL };
  cleanup_free char *path = NULL;
  cleanup_error veil_error_t err = NULL;
  enum veil_fw_mapping m;
  assert_int_equal(veil_firmware_select(dirs, NULL, VEIL_TEE_SNP, &path, &m, &err), 0);
  assert_string_equal(path, fw);
  assert_int_equal(m, VEIL_FW_MEMORY);
  free(path);
  path = NULL;
  /* SEV-ES takes the flash one (first by name that fits) */
  assert_int_equal(veil_firmware_select(dirs, NULL, VEIL_TEE_SEV_ES, &path, &m, &err), 0);
  assert_int_equal(m, VEIL_FW_FLASH);
  free(path);
  path = NULL;
  /* TDX: the only candidate's file is missing */
  assert_int_equal(veil_firmware_select(dirs, NULL, VEIL_TEE_TDX, &path, NULL, &err), -1);
  assert_non_null(strstr(err->msg, "30-tdx.json: firmware file /nonexistent/OVMF.inteltdx.fd is missing"));
  assert_non_null(strstr(err->msg, "10-flash.json: lacks feature intel-tdx"));
  fake_tree_free(root);
}

static void test_fake_dirs_snp_flash_only_rejected(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  char fw[4096], d1[4096];
  snprintf(fw, sizeof(fw), "%s/fw/OVMF.fd", root);
  fake_write(root, "fw/OVMF.fd", "fw");
  snprintf(d1, sizeof(d1), "%s/desc", root);
  cleanup_free char *flash = fake_descriptor("flash", fw, "\"amd-sev-snp\"");
  fake_write(root, "desc/10-flash.json", flash);
  fake_write(root, "desc/20-broken.json", "{not json");
  const char *dirs[] = { d1, NULL };
  cleanup_free char *path = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_firmware_select(dirs, NULL, VEIL_TEE_SNP, &path, NULL, &err), -1);
  assert_non_null(strstr(err->msg, "10-flash.json: mapping device flash, but snp needs memory (-bios)"));
  assert_non_null(strstr(err->msg, "20-broken.json: not a JSON object"));
  assert_non_null(strstr(err->msg, "among 2 descriptors"));
  fake_tree_free(root);
}

static void test_fake_root_etc_overrides_usr_share(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  char fw1[4096], fw2[4096];
  /* descriptors name host paths; with a fake root the file is looked up under it */
  fake_write(root, "usr/share/fw/a.fd", "a");
  fake_write(root, "etc/fw/b.fd", "b");
  snprintf(fw1, sizeof(fw1), "%s/usr/share/fw/a.fd", root);
  snprintf(fw2, sizeof(fw2), "%s/etc/fw/b.fd", root);
  cleanup_free char *usr = fake_descriptor("memory", "/usr/share/fw/a.fd", "\"intel-tdx\"");
  cleanup_free char *etc = fake_descriptor("memory", "/etc/fw/b.fd", "\"intel-tdx\"");
  fake_write(root, "usr/share/qemu/firmware/50-tdx.json", usr);
  fake_write(root, "etc/qemu/firmware/50-tdx.json", etc);
  cleanup_free char *path = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_firmware_select(NULL, root, VEIL_TEE_TDX, &path, NULL, &err), 0);
  assert_string_equal(path, fw2);
  fake_tree_free(root);
}

static void test_empty_dirs(void **state)
{
  (void)state;
  const char *dirs[] = { "/nonexistent/firmware", NULL };
  cleanup_free char *path = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_firmware_select(dirs, NULL, VEIL_TEE_SNP, &path, NULL, &err), -1);
  assert_non_null(strstr(err->msg, "no descriptors in /nonexistent/firmware"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_debian_descriptors_sev),
    cmocka_unit_test(test_debian_descriptors_no_snp_tdx),
    cmocka_unit_test(test_fake_dirs_snp_tdx_pick_memory_mapping),
    cmocka_unit_test(test_fake_dirs_snp_flash_only_rejected),
    cmocka_unit_test(test_fake_root_etc_overrides_usr_share),
    cmocka_unit_test(test_empty_dirs),
  };
  return cmocka_run_group_tests_name("firmware", tests, NULL, NULL);
}
