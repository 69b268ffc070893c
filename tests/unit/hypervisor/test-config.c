/* Runtime config loader: shipped configs load, strict validation names the key and the file,
 * profile defaults, lookup order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "hypervisor/config.h"

VEIL_DEFINE_CLEANUP(struct veil_config, veil_config_free)

static void load_shipped(const char *profile, enum veil_profile want)
{
  char path[4096];
  snprintf(path, sizeof(path), "%s/configs/%s.json", getenv("VEIL_SOURCE_ROOT"), profile);
  cleanup_with(veil_config_free) struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_config_load(path, &c, &err) < 0)
    fail_msg("%s", err->msg);
  assert_int_equal(c->profile, want);
  assert_string_equal(c->path, path);
  assert_string_equal(veil_profile_name(c->profile), profile);
}

static void test_shipped_configs_load(void **state)
{
  (void)state;
  load_shipped("dev", VEIL_PROFILE_DEV);
  load_shipped("sev", VEIL_PROFILE_SEV);
  load_shipped("sev-es", VEIL_PROFILE_SEV_ES);
  load_shipped("snp", VEIL_PROFILE_SNP);
  load_shipped("tdx", VEIL_PROFILE_TDX);
  load_shipped("se", VEIL_PROFILE_SE);
}

static void test_dev_defaults(void **state)
{
  (void)state;
  const char *j = "{\"profile\":\"dev\"}";
  cleanup_with(veil_config_free) struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_config_parse("x.json", j, strlen(j), &c, &err), 0);
  assert_int_equal(c->vcpus, 1);
  assert_int_equal(c->memory_mb, 512);
  assert_string_equal(c->accel, "tcg");
  assert_string_equal(c->shared_fs, "9p");
  assert_int_equal(c->dial_timeout_s, 60);
  assert_string_equal(c->kernel_params, "console=ttyS0 quiet panic=-1");
  assert_string_equal(c->kernel, "/usr/local/share/veil/guest/vmlinuz");
  assert_string_equal(c->initrd, "/usr/local/share/veil/guest/initrd.img");
  assert_string_equal(c->machine_type, "q35");
  assert_string_equal(c->backend, "qemu");
  assert_string_equal(c->run_dir, "/run/veil");
  assert_string_equal(c->agent_channel, "vsock");
  assert_string_equal(c->vhost_user_vsock_path, "/usr/local/libexec/veil/vhost-device-vsock");
  assert_true(c->hardening);
  assert_false(c->debug);
  assert_non_null(c->enable_annotations);
  assert_null(c->enable_annotations[0]);
}

static void test_snp_defaults(void **state)
{
  (void)state;
  const char *j = "{\"profile\":\"snp\"}";
  cleanup_with(veil_config_free) struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_config_parse("x.json", j, strlen(j), &c, &err), 0);
  assert_int_equal(c->policy, 0x30000);
  assert_true(c->kernel_hashes);
  assert_string_equal(c->accel, "kvm");
  assert_string_equal(c->shared_fs, "none");
  assert_int_equal(c->dial_timeout_s, 90);
  assert_string_equal(c->agent_channel, "vsock");  /* every profile */
}

/* Parse json, expect failure mentioning every needle. */
static void expect_error(const char *json, const char *n1, const char *n2)
{
  cleanup_with(veil_config_free) struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_config_parse("/etc/veil/bad.json", json, strlen(json), &c, &err), -1);
  assert_null(c);
  if (!strstr(err->msg, "/etc/veil/bad.json") || !strstr(err->msg, n1) || (n2 && !strstr(err->msg, n2)))
    fail_msg("`%s` lacks the file name, `%s` or `%s`", err->msg, n1, n2 ? n2 : "");
}

static void test_strict_errors(void **state)
{
  (void)state;
  expect_error("{\"profile\":\"dev\",\"vcpu\":2}", "unknown key `vcpu`", NULL);
  expect_error("{\"profile\":\"dev\",\"vcpus\":\"2\"}", "`vcpus`", "must be an integer, not a string");
  expect_error("{\"profile\":\"dev\",\"vcpus\":0}", "`vcpus`", "out of range");
  expect_error("{\"profile\":\"dev\",\"debug\":1}", "`debug`", "true or false");
  expect_error("{\"profile\":\"dev\",\"kernel\":null}", "`kernel`", "must be a string, not null");
  expect_error("{\"profile\":\"dev\",\"kernel\":\"vmlinuz\"}", "`kernel`", "absolute path");
  expect_error("{\"profile\":\"dev\",\"enable_annotations\":[1]}", "`enable_annotations`[0]", NULL);
  expect_error("{\"vcpus\":1}", "missing key `profile`", NULL);
  expect_error("{\"profile\":\"pdx\"}", "`profile`", "dev, sev");
  expect_error("[]", "must be a JSON object", NULL);
  expect_error("{\"profile\":\"dev\",", "line 1", NULL);
  expect_error("{\"profile\":\"dev\",\"accel\":\"hvf\"}", "`accel`", "hvf");
  expect_error("{\"profile\":\"dev\",\"profile\":\"snp\"}", "duplicate", NULL);
  expect_error("{\"profile\":\"snp\",\"accel\":\"tcg\"}", "`accel`", "TEE cannot run under TCG");
  expect_error("{\"profile\":\"tdx\",\"shared_fs\":\"9p\"}", "`shared_fs`", "none");
  expect_error("{\"profile\":\"sev\",\"policy\":5}", "`policy`", "sev-es");
  expect_error("{\"profile\":\"sev-es\",\"policy\":1}", "`policy`", "bit 2");
  expect_error("{\"profile\":\"snp\",\"policy\":65536}", "`policy`", "bit 17");
  expect_error("{\"profile\":\"snp\",\"id_block\":\"/x/id.bin\"}", "`id_block` and `id_auth`", NULL);
  expect_error("{\"profile\":\"dev\",\"quote_generation_socket\":\"unix:/q\"}", "`quote_generation_socket`",
               "tdx only");
  expect_error("{\"profile\":\"tdx\",\"quote_generation_socket\":\"tcp:1:2\"}", "`quote_generation_socket`",
               "vsock:CID:PORT");
  expect_error("{\"profile\":\"dev\",\"run_dir\":\"/run/a,b\"}", "`run_dir`", "comma");
  expect_error("{\"profile\":\"dev\",\"kernel\":\"/a\\u0000b\"}", "line 1", "u0000");
  expect_error("{\"profile\":\"dev\",\"shared_fs\":\"virtio-fs\"}", "`shared_fs`", "not implemented");
  expect_error("{\"profile\":\"snp\",\"agent_channel\":\"serial\"}", "`agent_channel`", "\"virtio-serial\"");
  expect_error("{\"profile\":\"dev\",\"vhost_user_vsock_path\":\"vhost-device-vsock\"}", "`vhost_user_vsock_path`",
               "absolute path");
  expect_error("{\"profile\":\"dev\",\"vhost_user_vsock_path\":\"\"}", "`vhost_user_vsock_path`", "absolute path");
}

static void test_missing_file(void **state)
{
  (void)state;
  cleanup_with(veil_config_free) struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_config_load("/nonexistent/veil.json", &c, &err), -1);
  assert_non_null(strstr(err->msg, "/nonexistent/veil.json"));
  assert_non_null(strstr(err->msg, "No such file"));
}

static void test_overrides_and_lists(void **state)
{
  (void)state;
  const char *j = "{\"profile\":\"tdx\",\"vcpus\":4,\"memory_mb\":4096,\"quote_generation_socket\":\"vsock:2:4050\","
                  "\"enable_annotations\":[\"a\",\"b\"],\"qemu_user\":\"nobody\",\"hardening\":false}";
  cleanup_with(veil_config_free) struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_config_parse("x.json", j, strlen(j), &c, &err), 0);
  assert_int_equal(c->vcpus, 4);
  assert_int_equal(c->memory_mb, 4096);
  assert_string_equal(c->quote_generation_socket, "vsock:2:4050");
  assert_string_equal(c->enable_annotations[0], "a");
  assert_string_equal(c->enable_annotations[1], "b");
  assert_null(c->enable_annotations[2]);
  assert_string_equal(c->qemu_user, "nobody");
  assert_false(c->hardening);
}

static void test_resolve_path_order(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  char *p = NULL;
  setenv("VEIL_CONFIG", "/from/env.json", 1);
  assert_int_equal(veil_config_resolve_path("/from/options.json", &p, &err), 0);
  assert_string_equal(p, "/from/options.json");
  free(p);
  assert_int_equal(veil_config_resolve_path(NULL, &p, &err), 0);
  assert_string_equal(p, "/from/env.json");
  free(p);
  assert_int_equal(veil_config_resolve_path("", &p, &err), 0);
  assert_string_equal(p, "/from/env.json");
  free(p);
  unsetenv("VEIL_CONFIG");
  assert_int_equal(veil_config_resolve_path(NULL, &p, &err), 0);
  if (access("/etc/veil/configuration.json", F_OK) == 0)
    assert_string_equal(p, "/etc/veil/configuration.json");
  else
    assert_non_null(strstr(p, "/veil/configs/dev.json"));
  free(p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_shipped_configs_load),
    cmocka_unit_test(test_dev_defaults),
    cmocka_unit_test(test_snp_defaults),
    cmocka_unit_test(test_strict_errors),
    cmocka_unit_test(test_missing_file),
    cmocka_unit_test(test_overrides_and_lists),
    cmocka_unit_test(test_resolve_path_order),
  };
  return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
