/* Host probe against fake sysfs trees (TEE hosts cannot be had here) and against this host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fake_tree.h"
#include "hypervisor/host_probe.h"

VEIL_DEFINE_CLEANUP(struct veil_host_probe, veil_host_probe_free)

/* A fake tree with /dev/kvm (a plain file: existence is all a fake can show) and a firmware
 * descriptor dir holding SNP, SEV and TDX builds. */
static char *fake_host(const char *const *flags)
{
  char *root = fake_tree_new();
  char fw[4096];
  fake_write(root, "dev/kvm", "");
  fake_write(root, "usr/share/ovmf/AMDSEV.fd", "fw");
  fake_write(root, "usr/share/ovmf/OVMF.inteltdx.fd", "fw");
  fake_write(root, "usr/share/OVMF/OVMF_CODE.fd", "fw");
  cleanup_free char *snp = fake_descriptor("memory", "/usr/share/ovmf/AMDSEV.fd", "\"amd-sev\",\"amd-sev-es\",\"amd-sev-snp\"");
  cleanup_free char *tdx = fake_descriptor("memory", "/usr/share/ovmf/OVMF.inteltdx.fd", "\"intel-tdx\"");
  cleanup_free char *sev = fake_descriptor("flash", "/usr/share/OVMF/OVMF_CODE.fd", "\"amd-sev\",\"amd-sev-es\"");
  fake_write(root, "usr/share/qemu/firmware/10-snp.json", snp);
  fake_write(root, "usr/share/qemu/firmware/20-tdx.json", tdx);
  fake_write(root, "usr/share/qemu/firmware/30-sev.json", sev);
  for (; flags && *flags; flags += 2)
    fake_write(root, flags[0], flags[1]);
  (void)fw;
  return root;
}

static struct veil_host_probe *probe(const char *root, const uint32_t *cpuid)
{
  struct veil_probe_opts o = { .root = root, .cpuid_sev = cpuid };  /* QEMU not probed */
  struct veil_host_probe *p = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_host_probe(&o, &p, &err) < 0)
    fail_msg("%s", err->msg);
  return p;
}

static void test_probe_fake_sysfs_snp(void **state)
{
  (void)state;
  const char *flags[] = { "sys/module/kvm_amd/parameters/sev", "Y\n", "sys/module/kvm_amd/parameters/sev_es", "Y\n",
                          "sys/module/kvm_amd/parameters/sev_snp", "Y\n", NULL };
  char *root = fake_host(flags);
  uint32_t cpuid[2] = { (1u << 1) | (1u << 3) | (1u << 4), 51u | (1u << 6) };
  cleanup_with(veil_host_probe_free) struct veil_host_probe *p = probe(root, cpuid);
  assert_true(p->kvm);
  assert_int_equal(p->cbitpos, 51);
  assert_int_equal(p->reduced_phys_bits, 1);
  assert_true(p->tee[VEIL_TEE_SNP].usable);
  assert_true(p->tee[VEIL_TEE_SEV].usable);
  assert_true(p->tee[VEIL_TEE_SEV_ES].usable);
  assert_false(p->tee[VEIL_TEE_TDX].usable);
  assert_false(p->tee[VEIL_TEE_SE].usable);
  char want[4200];
  snprintf(want, sizeof(want), "%s/usr/share/ovmf/AMDSEV.fd", root);
  assert_string_equal(p->tee[VEIL_TEE_SNP].firmware, want);
  snprintf(want, sizeof(want), "%s/usr/share/OVMF/OVMF_CODE.fd", root);
  assert_string_equal(p->tee[VEIL_TEE_SEV].firmware, want);  /* flash for SEV */
  assert_non_null(strstr(p->tee[VEIL_TEE_TDX].why, "kvm_intel/parameters/tdx is not Y"));
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_host_check_profile(p, VEIL_PROFILE_SNP, &err), 0);
  assert_int_equal(veil_host_check_profile(p, VEIL_PROFILE_DEV, &err), 0);
  assert_int_equal(veil_host_check_profile(p, VEIL_PROFILE_TDX, &err), -1);
  assert_non_null(strstr(err->msg, "cannot run tdx guests"));
  fake_tree_free(root);
}

static void test_probe_fake_sysfs_snp_disabled_in_kvm(void **state)
{
  (void)state;
  /* the CPU can, but kvm_amd was loaded without sev_snp */
  const char *flags[] = { "sys/module/kvm_amd/parameters/sev", "Y\n", "sys/module/kvm_amd/parameters/sev_snp", "N\n", NULL };
  char *root = fake_host(flags);
  uint32_t cpuid[2] = { (1u << 1) | (1u << 3) | (1u << 4), 47u | (1u << 6) };
  cleanup_with(veil_host_probe_free) struct veil_host_probe *p = probe(root, cpuid);
  assert_false(p->tee[VEIL_TEE_SNP].usable);
  assert_non_null(strstr(p->tee[VEIL_TEE_SNP].why, "kvm_amd/parameters/sev_snp is not Y"));
  assert_non_null(strstr(p->tee[VEIL_TEE_SNP].todo, "sev_snp=1"));
  assert_false(p->tee[VEIL_TEE_SEV_ES].usable);  /* no sev_es file */
  assert_true(p->tee[VEIL_TEE_SEV].usable);
  assert_int_equal(p->cbitpos, 47);
  fake_tree_free(root);
}

static void test_probe_fake_sysfs_tdx(void **state)
{
  (void)state;
  const char *flags[] = { "sys/module/kvm_intel/parameters/tdx", "Y\n", "dev/vhost-vsock", "", NULL };
  char *root = fake_host(flags);
  uint32_t cpuid[2] = { 0, 0 };
  cleanup_with(veil_host_probe_free) struct veil_host_probe *p = probe(root, cpuid);
  assert_true(p->tee[VEIL_TEE_TDX].usable);
  assert_true(p->vhost_vsock);
  assert_false(p->tee[VEIL_TEE_SNP].usable);
  assert_non_null(strstr(p->tee[VEIL_TEE_SNP].why, "CPUID 0x8000001F EAX bit 4"));
  fake_tree_free(root);
}

static void test_probe_fake_sysfs_se(void **state)
{
  (void)state;
  const char *flags[] = { "sys/firmware/uv/prot_virt_host", "1\n", NULL };
  char *root = fake_host(flags);
  uint32_t cpuid[2] = { 0, 0 };
  cleanup_with(veil_host_probe_free) struct veil_host_probe *p = probe(root, cpuid);
  assert_true(p->tee[VEIL_TEE_SE].usable);  /* no firmware needed: the SE image has its loader */
  assert_null(p->tee[VEIL_TEE_SE].firmware);
  fake_tree_free(root);
}

static void test_probe_fake_sysfs_no_kvm_no_firmware(void **state)
{
  (void)state;
  char *root = fake_tree_new();
  fake_write(root, "sys/module/kvm_intel/parameters/tdx", "Y\n");
  uint32_t cpuid[2] = { 0, 0 };
  cleanup_with(veil_host_probe_free) struct veil_host_probe *p = probe(root, cpuid);
  assert_false(p->kvm);
  assert_non_null(strstr(p->kvm_why, "/dev/kvm"));
  assert_false(p->tee[VEIL_TEE_TDX].usable);
  assert_non_null(strstr(p->tee[VEIL_TEE_TDX].why, "cannot open /dev/kvm"));
  assert_non_null(strstr(p->tee[VEIL_TEE_TDX].why, "no firmware for tdx"));
  fake_tree_free(root);
}

/* This host: kvm_pvm, no vhost-vsock, no TEE; QEMU 7.2 too old for SNP/TDX. */
static void test_probe_this_host_no_tee(void **state)
{
  (void)state;
  struct veil_probe_opts o = { .root = "/", .qemu_x86 = "/usr/bin/qemu-system-x86_64",
                               .qemu_s390x = "/usr/bin/qemu-system-s390x" };
  cleanup_with(veil_host_probe_free) struct veil_host_probe *p = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_host_probe(&o, &p, &err), 0);
  for (int t = 0; t < VEIL_TEE_COUNT; t++) {
    assert_false(p->tee[t].usable);
    assert_true(strlen(p->tee[t].why) > 0);
    assert_true(strlen(p->tee[t].todo) > 0);
  }
  assert_false(p->vhost_vsock);
  assert_non_null(p->qemu_x86_version);
  assert_non_null(strstr(p->tee[VEIL_TEE_SNP].why, "needs QEMU >= 9.1"));
  assert_non_null(strstr(p->tee[VEIL_TEE_TDX].why, "needs QEMU >= 10.1"));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_probe_fake_sysfs_snp),
    cmocka_unit_test(test_probe_fake_sysfs_snp_disabled_in_kvm),
    cmocka_unit_test(test_probe_fake_sysfs_tdx),
    cmocka_unit_test(test_probe_fake_sysfs_se),
    cmocka_unit_test(test_probe_fake_sysfs_no_kvm_no_firmware),
    cmocka_unit_test(test_probe_this_host_no_tee),
  };
  return cmocka_run_group_tests_name("host-probe", tests, NULL, NULL);
}
