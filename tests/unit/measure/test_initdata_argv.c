/* initdata end to end on the QEMU command line and in the libvirt XML: an initdata document's
 * digest, handed to the hypervisor's builders, appears as SNP host-data / TDX mrconfigid
 * exactly as the shared binding rule (common/initdata.h veil_initdata_binding) computes it,
 * and the whole argv matches tests/golden/initdata-*.args (VEIL_UPDATE_GOLDEN=1 rewrites them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>

#include "hypervisor/argvec.h"
#include "hypervisor/libvirt_xml.h"
#include "hypervisor/qemu_argv.h"
#include "measure/initdata.h"
#include "measure_testutil.h"

VEIL_DEFINE_CLEANUP(struct veil_config, veil_config_free)
VEIL_DEFINE_CLEANUP(struct veil_initdata, veil_initdata_free)

struct argv_case {
  const char *profile, *algorithm, *firmware, *golden;
};

static const struct argv_case cases[] = {
  { "snp", "sha384", "/usr/share/ovmf/AMDSEV.fd", "initdata-snp.args" },  /* 48 -> 32 bytes */
  { "tdx", "sha256", "/usr/share/ovmf/OVMF.inteltdx.fd", "initdata-tdx.args" }, /* 32 -> 48 */
};

static void compare_golden(const char *file, const char *got)
{
  char path[4096];
  snprintf(path, sizeof(path), "%s/tests/golden/%s", getenv("VEIL_SOURCE_ROOT"), file);
  cleanup_error veil_error_t err = NULL;
  const char *update = getenv("VEIL_UPDATE_GOLDEN");
  if (update && strcmp(update, "1") == 0) {
    assert_int_equal(veil_write_file_atomic(path, got, strlen(got), 0644, &err), 0);
    return;
  }
  cleanup_free char *want = NULL;
  if (veil_read_file(path, 1 << 20, &want, NULL, &err) < 0)
    fail_msg("%s (VEIL_UPDATE_GOLDEN=1 creates it)", err->msg);
  if (strcmp(want, got) != 0)
    fail_msg("%s differs from the generated argv:\n%s", path, got);
}

static void test_initdata_argv(void **state)
{
  const struct argv_case *tc = *state;
  char path[4096], doc[256];
  snprintf(path, sizeof(path), "%s/configs/%s.json", getenv("VEIL_SOURCE_ROOT"), tc->profile);
  cleanup_with(veil_config_free) struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_config_load(path, &c, &err) < 0)
    fail_msg("%s", err->msg);
  snprintf(doc, sizeof(doc), "version = \"0.1.0\"\nalgorithm = \"%s\"\n[data]\n\"policy.rego\" = "
           "'''package agent_policy'''\n", tc->algorithm);
  cleanup_with(veil_initdata_free) struct veil_initdata *d = NULL;
  if (veil_initdata_from_toml(doc, strlen(doc), &d, &err) < 0)
    fail_msg("%s", err->msg);
  const struct veil_vm_disk disk = { "/run/veil/golden/initdata.img", true, "initdata" };
  struct veil_vm_spec spec = {
    .config = c, .id = "golden", .disks = &disk, .n_disks = 1,
    .initdata_digest = d->digest, .initdata_digest_len = d->digest_len,
  };
  struct veil_agent_channel ch = { .kind = VEIL_CHANNEL_VHOST_VSOCK, .cid = 3, .vhost_fd = -1 };
  struct veil_qemu_plan plan = {
    .spec = &spec, .run_dir = "/run/veil/golden", .firmware = tc->firmware,
    .fw_mapping = VEIL_FW_MEMORY, .cbitpos = 51, .reduced_phys_bits = 1, .channel = &ch,
    .sandbox = c->hardening,
  };
  cleanup_strv char **argv = NULL;
  if (veil_qemu_build_argv(&plan, &argv, &err) < 0)
    fail_msg("%s", err->msg);
  /* the bound value is the one veil_initdata_binding computes for this profile's TEE */
  uint8_t bound[64];
  size_t len;
  cleanup_free char *b64 = NULL;
  enum veil_tee tee;
  assert_true(veil_profile_tee(c->profile, &tee));
  assert_int_equal(veil_initdata_binding(tee, d->digest, d->digest_len, bound, &len, &b64, &err), 0);
  char needle[160];
  snprintf(needle, sizeof(needle), c->profile == VEIL_PROFILE_SNP ? ",host-data=%s" : "\"mrconfigid\":\"%s\"", b64);
  bool found = false;
  for (char **a = argv; *a; a++)
    found |= strstr(*a, needle) != NULL;
  if (!found)
    fail_msg("no argument contains `%s`", needle);
  /* the libvirt domain carries the same bytes */
  cleanup_free char *xml = NULL;
  if (veil_libvirt_domain_xml(&plan, &xml, &err) < 0)
    fail_msg("%s", err->msg);
  snprintf(needle, sizeof(needle), c->profile == VEIL_PROFILE_SNP ? "<hostData>%s</hostData>"
                                                                  : "<mrConfigId>%s</mrConfigId>", b64);
  if (!strstr(xml, needle))
    fail_msg("the libvirt XML lacks `%s`:\n%s", needle, xml);
  cleanup_free char *text = veil_strv_join(argv, "\n");
  cleanup_free char *withnl = NULL;
  assert_true(asprintf(&withnl, "%s\n", text) > 0);
  compare_golden(tc->golden, withnl);
}

/* SEV, SEV-ES and SE have no field to bind a digest to: both builders refuse, with the rule's
 * error, instead of launching a VM whose attestation ignores the initdata. */
static void test_initdata_refused_without_field(void **state)
{
  (void)state;
  const char *profiles[] = { "sev", "sev-es", "se" };
  const uint8_t digest[32] = { 1, 2, 3 };
  for (size_t i = 0; i < 3; i++) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/configs/%s.json", getenv("VEIL_SOURCE_ROOT"), profiles[i]);
    cleanup_with(veil_config_free) struct veil_config *c = NULL;
    cleanup_error veil_error_t err = NULL;
    if (veil_config_load(path, &c, &err) < 0)
      fail_msg("%s", err->msg);
    struct veil_vm_spec spec = { .config = c, .id = "golden", .initdata_digest = digest,
                                 .initdata_digest_len = sizeof(digest) };
    struct veil_agent_channel ch = { .kind = VEIL_CHANNEL_VHOST_VSOCK, .cid = 3, .vhost_fd = -1 };
    struct veil_qemu_plan plan = { .spec = &spec, .run_dir = "/run/veil/golden", .channel = &ch,
                                   .cbitpos = 51, .reduced_phys_bits = 1 };
    cleanup_strv char **argv = NULL;
    assert_int_equal(veil_qemu_build_argv(&plan, &argv, &err), -1);
    assert_int_equal(err->status, ENOTSUP);
    assert_non_null(strstr(err->msg, "cannot bind an initdata digest"));
    veil_error_release(&err);
    cleanup_free char *xml = NULL;
    assert_int_equal(veil_libvirt_domain_xml(&plan, &xml, &err), -1);
    assert_int_equal(err->status, ENOTSUP);
    assert_non_null(strstr(err->msg, profiles[i]));
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    { "initdata_argv_snp", test_initdata_argv, NULL, NULL, (void *)&cases[0] },
    { "initdata_argv_tdx", test_initdata_argv, NULL, NULL, (void *)&cases[1] },
    cmocka_unit_test(test_initdata_refused_without_field),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
