/* Golden files: the full QEMU argv (one argument per line, *.args) and libvirt domain XML
 * (*.xml) of every profile, from the shipped configs/<profile>.json. A mismatch fails with the
 * first differing line; VEIL_UPDATE_GOLDEN=1 rewrites the files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "hypervisor/argvec.h"
#include "hypervisor/libvirt_xml.h"
#include "hypervisor/qemu_argv.h"

VEIL_DEFINE_CLEANUP(struct veil_config, veil_config_free)
VEIL_DEFINE_CLEANUP(json_t, json_decref)

struct golden_case {
  const char *name;
  const char *config;        /* configs/<config>.json */
  const char *overrides;     /* JSON object merged over it, or NULL */
  enum veil_channel_kind channel;
  unsigned cid;
  const char *firmware;
  enum veil_fw_mapping mapping;
  bool shares, disks, digest, id_block;
  const char *extra_params;
};

#define SERIAL VEIL_CHANNEL_VIRTIO_SERIAL
#define VHOST VEIL_CHANNEL_VHOST_VSOCK
#define HYBRID VEIL_CHANNEL_HYBRID_VSOCK
#define VIRTIO_SERIAL_CONFIG "{\"agent_channel\":\"virtio-serial\"}"
#define OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define AMDSEV "/usr/share/ovmf/AMDSEV.fd"
#define TDVF "/usr/share/ovmf/OVMF.inteltdx.fd"

/* Every profile with every channel kind (the first three blocks), then variants. */
static const struct golden_case cases[] = {
  { "dev-hybrid-vsock", "dev", NULL, HYBRID, 3, NULL, VEIL_FW_MEMORY, true, false, false, false, NULL },
  { "sev-hybrid-vsock", "sev", NULL, HYBRID, 3, OVMF_CODE, VEIL_FW_FLASH, false, false, false, false, NULL },
  { "sev-es-hybrid-vsock", "sev-es", NULL, HYBRID, 3, OVMF_CODE, VEIL_FW_FLASH, false, false, false, false, NULL },
  { "snp-hybrid-vsock", "snp", NULL, HYBRID, 3, AMDSEV, VEIL_FW_MEMORY, false, false, false, false, NULL },
  { "tdx-hybrid-vsock", "tdx", NULL, HYBRID, 3, TDVF, VEIL_FW_MEMORY, false, false, false, false, NULL },
  { "se-hybrid-vsock", "se", NULL, HYBRID, 3, NULL, VEIL_FW_MEMORY, false, false, false, false, NULL },
  { "dev-vhost-vsock", "dev", NULL, VHOST, 3, NULL, VEIL_FW_MEMORY, true, false, false, false, NULL },
  /* sev, sev-es, snp, tdx, se below: vhost-vsock */
  { "sev-virtio-serial", "sev", VIRTIO_SERIAL_CONFIG, SERIAL, 0, OVMF_CODE, VEIL_FW_FLASH, false, false, false,
    false, NULL },
  { "sev-es-virtio-serial", "sev-es", VIRTIO_SERIAL_CONFIG, SERIAL, 0, OVMF_CODE, VEIL_FW_FLASH, false, false,
    false, false, NULL },
  { "snp-virtio-serial", "snp", VIRTIO_SERIAL_CONFIG, SERIAL, 0, AMDSEV, VEIL_FW_MEMORY, false, false, false,
    false, NULL },
  { "tdx-virtio-serial", "tdx", VIRTIO_SERIAL_CONFIG, SERIAL, 0, TDVF, VEIL_FW_MEMORY, false, false, false, false,
    NULL },
  { "se-virtio-serial", "se", VIRTIO_SERIAL_CONFIG, SERIAL, 0, NULL, VEIL_FW_MEMORY, false, false, false, false,
    NULL },
  /* dev: virtio-serial (the names predate the vsock default) */
  { "dev", "dev", VIRTIO_SERIAL_CONFIG, SERIAL, 0, NULL, VEIL_FW_MEMORY, true, false, false, false, NULL },
  { "dev-initdata-disk", "dev", VIRTIO_SERIAL_CONFIG, SERIAL, 0, NULL, VEIL_FW_MEMORY, true, true, false, false,
    "agent.log=debug" },
  { "dev-kvm-no-hardening", "dev",
    "{\"accel\":\"kvm\",\"hardening\":false,\"vcpus\":2,\"memory_mb\":1024,\"firmware\":\"/usr/share/ovmf/OVMF.fd\","
    "\"agent_channel\":\"virtio-serial\"}",
    SERIAL, 0, "/usr/share/ovmf/OVMF.fd", VEIL_FW_MEMORY, false, false, false, false, NULL },
  { "sev", "sev", NULL, VHOST, 3, "/usr/share/OVMF/OVMF_CODE_4M.fd", VEIL_FW_FLASH, false,
    false, false, false, NULL },
  { "sev-unix-channel", "sev", "{\"kernel_hashes\":false,\"agent_channel\":\"virtio-serial\"}", SERIAL, 0,
    "/usr/share/OVMF/OVMF_CODE_4M.fd", VEIL_FW_FLASH, false, true, false, false, NULL },
  { "sev-es", "sev-es", NULL, VHOST, 3, "/usr/share/OVMF/OVMF_CODE_4M.fd", VEIL_FW_FLASH,
    false, false, false, false, NULL },
  { "snp", "snp", NULL, VHOST, 3, "/usr/share/ovmf/AMDSEV.fd", VEIL_FW_MEMORY, false, false,
    false, false, NULL },
  { "snp-no-kernel-hashes", "snp", "{\"kernel_hashes\":false,\"policy\":196608}", VHOST, 5,
    "/usr/share/ovmf/AMDSEV.fd", VEIL_FW_MEMORY, false, false, false, false, NULL },
  { "snp-hostdata-idblock", "snp", "{\"author_key_enabled\":true,\"vcpus\":4}", VHOST, 3,
    "/usr/share/ovmf/AMDSEV.fd", VEIL_FW_MEMORY, false, true, true, true, NULL },
  { "tdx", "tdx", NULL, VHOST, 4, "/usr/share/ovmf/OVMF.inteltdx.fd", VEIL_FW_MEMORY, false,
    true, true, false, NULL },
  { "tdx-qgs-vsock", "tdx", "{\"quote_generation_socket\":\"vsock:2:4050\"}", VHOST, 3,
    "/usr/share/ovmf/OVMF.inteltdx.fd", VEIL_FW_MEMORY, false, false, false, false, NULL },
  { "tdx-no-qgs", "tdx", "{\"quote_generation_socket\":\"\",\"agent_channel\":\"virtio-serial\"}", SERIAL, 0,
    "/usr/share/ovmf/OVMF.inteltdx.fd", VEIL_FW_MEMORY, false, false, false, false, NULL },
  { "se", "se", NULL, VHOST, 3, NULL, VEIL_FW_MEMORY, false, false, false, false, NULL },
};

static struct veil_config *load_case_config(const struct golden_case *gc)
{
  char path[4096];
  snprintf(path, sizeof(path), "%s/configs/%s.json", getenv("VEIL_SOURCE_ROOT"), gc->config);
  json_error_t jerr;
  cleanup_with(json_decref) json_t *j = json_load_file(path, 0, &jerr);
  assert_non_null(j);
  if (gc->overrides) {
    cleanup_with(json_decref) json_t *o = json_loads(gc->overrides, 0, &jerr);
    assert_non_null(o);
    assert_int_equal(json_object_update(j, o), 0);
  }
  cleanup_free char *text = json_dumps(j, 0);
  struct veil_config *c = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_config_parse(path, text, strlen(text), &c, &err) < 0)
    fail_msg("config %s: %s", path, err->msg);
  return c;
}

static void compare_golden(const char *file, const char *got)
{
  char path[4096];
  snprintf(path, sizeof(path), "%s/tests/golden/%s", getenv("VEIL_SOURCE_ROOT"), file);
  cleanup_error veil_error_t err = NULL;
  const char *update = getenv("VEIL_UPDATE_GOLDEN");
  if (update && strcmp(update, "1") == 0) {
    if (veil_write_file_atomic(path, got, strlen(got), 0644, &err) < 0)
      fail_msg("%s", err->msg);
    return;
  }
  cleanup_free char *want = NULL;
  if (veil_read_file(path, 1 << 20, &want, NULL, &err) < 0)
    fail_msg("%s (run with VEIL_UPDATE_GOLDEN=1 to create it)", err->msg);
  if (strcmp(want, got) == 0)
    return;
  const char *w = want, *g = got;
  int line = 1;
  while (*w && *w == *g) {
    if (*w == '\n')
      line++;
    w++;
    g++;
  }
  fail_msg("%s differs at line %d:\n  want: %.*s\n  got:  %.*s\n(VEIL_UPDATE_GOLDEN=1 rewrites)", path, line,
           (int)strcspn(w, "\n"), w, (int)strcspn(g, "\n"), g);
}

static const struct veil_vm_share shares[] = {
  { "veilshared", "/run/veil/golden/shared", false },
  { "veilro", "/srv/ro data", true },
};
static const struct veil_vm_disk disks[] = {
  { "/run/veil/golden/initdata.img", true, "initdata" },
};
/* one NIC on the base case of every profile (the case named as its config) and on dev-kvm */
static const struct veil_vm_nic nics[] = {
  { .tap_fd = -1, .host_tap = "veil0a1b2c3d4e0", .mac = "02:11:22:33:44:55", .mtu = 1450 },
};

static bool case_has_nic(const struct golden_case *gc)
{
  return strcmp(gc->name, gc->config) == 0 || strcmp(gc->name, "dev-kvm-no-hardening") == 0;
}

static const uint8_t digest[48] = {
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
  0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
  0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
};

static void run_case(void **state, bool libvirt)
{
  const struct golden_case *gc = *state;
  cleanup_with(veil_config_free) struct veil_config *c = load_case_config(gc);
  struct veil_vm_spec spec = {
    .config = c, .id = "golden", .extra_kernel_params = gc->extra_params,
    .shares = gc->shares ? shares : NULL, .n_shares = gc->shares ? (gc->disks ? 2 : 1) : 0,
    .disks = gc->disks ? disks : NULL, .n_disks = gc->disks ? 1 : 0,
    .initdata_digest = gc->digest ? digest : NULL,
    .initdata_digest_len = gc->digest ? (c->profile == VEIL_PROFILE_TDX ? 48 : 32) : 0,
    .nics = case_has_nic(gc) ? nics : NULL, .n_nics = case_has_nic(gc) ? 1 : 0,
  };
  if (c->profile != VEIL_PROFILE_DEV)
    spec.n_shares = 0;  /* TEE profiles: shared_fs none */
  struct veil_agent_channel ch = { .kind = gc->channel, .cid = gc->cid, .vhost_fd = -1,
                                   .unix_path = "/run/veil/golden/agent.sock" };
  if (gc->channel == HYBRID) {
    ch.unix_path = "/run/veil/golden/vsock.sock";
    ch.vhost_user_path = "/run/veil/golden/vhost-vsock.sock";
  }
  /* fixed stand-ins for the SNP ID block and auth structure (real ones are 96 and 4096 bytes) */
  static unsigned char idb[96], ida[4096];
  for (size_t i = 0; i < sizeof(ida); i++)
    ida[i] = (unsigned char)(i * 7), idb[i % 96] = (unsigned char)i;
  cleanup_free char *idb64 = gc->id_block ? veil_base64_encode(idb, sizeof(idb)) : NULL;
  cleanup_free char *ida64 = gc->id_block ? veil_base64_encode(ida, sizeof(ida)) : NULL;
  struct veil_qemu_plan plan = {
    .spec = &spec, .run_dir = "/run/veil/golden", .firmware = gc->firmware, .fw_mapping = gc->mapping,
    .cbitpos = 51, .reduced_phys_bits = 1, .channel = &ch, .id_block_b64 = idb64, .id_auth_b64 = ida64,
    .sandbox = c->hardening,
    .vhost_net = spec.n_nics > 0 && strcmp(c->accel, "kvm") == 0,  /* as vm_qemu.c with /dev/vhost-net */
  };
  cleanup_error veil_error_t err = NULL;
  char file[256];
  if (libvirt) {
    if (ch.kind == VHOST)
      ch.cid = 0;  /* the libvirt backend lets libvirt choose the CID */
    cleanup_free char *xml = NULL;
    if (veil_libvirt_domain_xml(&plan, &xml, &err) < 0)
      fail_msg("%s: %s", gc->name, err->msg);
    snprintf(file, sizeof(file), "libvirt-%s.xml", gc->name);
    compare_golden(file, xml);
    return;
  }
  cleanup_strv char **argv = NULL;
  if (veil_qemu_build_argv(&plan, &argv, &err) < 0)
    fail_msg("%s: %s", gc->name, err->msg);
  cleanup_free char *text = veil_strv_join(argv, "\n");
  cleanup_free char *withnl = NULL;
  assert_true(asprintf(&withnl, "%s\n", text) > 0);
  snprintf(file, sizeof(file), "qemu-%s.args", gc->name);
  compare_golden(file, withnl);
}

static void test_qemu_args(void **state) { run_case(state, false); }
static void test_libvirt_xml(void **state) { run_case(state, true); }

/* Argument values that would break QEMU's option syntax are refused, not escaped. */
static void test_comma_in_share_refused(void **state)
{
  (void)state;
  const struct golden_case *gc = &cases[0];
  cleanup_with(veil_config_free) struct veil_config *c = load_case_config(gc);
  struct veil_vm_share bad = { "tag", "/srv/a,b", false };
  struct veil_vm_spec spec = { .config = c, .id = "x", .shares = &bad, .n_shares = 1 };
  struct veil_agent_channel ch = { .kind = SERIAL, .unix_path = "/r/agent.sock", .vhost_fd = -1 };
  struct veil_qemu_plan plan = { .spec = &spec, .run_dir = "/r", .channel = &ch };
  cleanup_strv char **argv = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_qemu_build_argv(&plan, &argv, &err), -1);
  assert_non_null(strstr(err->msg, "/srv/a,b"));
}

/* NIC specs that would break the argv or the XML are refused with the NIC named. */
static void test_bad_nics_refused(void **state)
{
  (void)state;
  cleanup_with(veil_config_free) struct veil_config *c = load_case_config(&cases[0]);
  struct veil_agent_channel ch = { .kind = VEIL_CHANNEL_VIRTIO_SERIAL, .unix_path = "/r/agent.sock", .vhost_fd = -1 };
  static const struct { struct veil_vm_nic nic; const char *needle; } bad[] = {
    { { -1, "veil0", "02:11:22:33:44:55,x", 0 }, "MAC `02:11:22:33:44:55,x` is not of the form" },
    { { -1, "veil0", "02:11:22:33:44", 0 }, "is not of the form" },
    { { -1, "veil0", NULL, 0 }, "MAC `(none)`" },
    { { -1, "veil0", "03:11:22:33:44:55", 0 }, "is a multicast address" },
    { { -1, "veil0", "02:11:22:33:44:55", 70000 }, "MTU 70000 is outside 68..65535" },
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    struct veil_vm_spec spec = { .config = c, .id = "x", .nics = &bad[i].nic, .n_nics = 1 };
    struct veil_qemu_plan plan = { .spec = &spec, .run_dir = "/r", .channel = &ch };
    cleanup_strv char **argv = NULL;
    cleanup_free char *xml = NULL;
    cleanup_error veil_error_t err = NULL;
    assert_int_equal(veil_qemu_build_argv(&plan, &argv, &err), -1);
    assert_non_null(strstr(err->msg, bad[i].needle));
    assert_non_null(strstr(err->msg, "NIC 0"));
    veil_error_release(&err);
    assert_int_equal(veil_libvirt_domain_xml(&plan, &xml, &err), -1);
    assert_non_null(strstr(err->msg, bad[i].needle));
  }
  static const char *const bad_taps[] = { NULL, "", "veil'0", "a-name-of-16-chr", "vnet0" };
  for (size_t i = 0; i < sizeof(bad_taps) / sizeof(bad_taps[0]); i++) {
    struct veil_vm_nic nic = { -1, bad_taps[i], "02:11:22:33:44:55", 1500 };
    struct veil_vm_spec spec = { .config = c, .id = "x", .nics = &nic, .n_nics = 1 };
    struct veil_qemu_plan plan = { .spec = &spec, .run_dir = "/r", .channel = &ch };
    cleanup_free char *xml = NULL;
    cleanup_error veil_error_t err = NULL;
    assert_int_equal(veil_libvirt_domain_xml(&plan, &xml, &err), -1);
    assert_non_null(strstr(err->msg, "NIC 0: the libvirt backend needs host_tap"));
  }
}

int main(void)
{
  enum { N = sizeof(cases) / sizeof(cases[0]) };
  struct CMUnitTest tests[2 * N + 2];
  char names[2 * N][96];
  for (size_t i = 0; i < N; i++) {
    snprintf(names[2 * i], sizeof(names[0]), "qemu_args_%s", cases[i].name);
    snprintf(names[2 * i + 1], sizeof(names[0]), "libvirt_xml_%s", cases[i].name);
    tests[2 * i] = (struct CMUnitTest){ names[2 * i], test_qemu_args, NULL, NULL, (void *)&cases[i] };
    tests[2 * i + 1] = (struct CMUnitTest){ names[2 * i + 1], test_libvirt_xml, NULL, NULL, (void *)&cases[i] };
  }
  tests[2 * N] = (struct CMUnitTest){ "argv_comma_in_share_refused", test_comma_in_share_refused, NULL, NULL, NULL };
  tests[2 * N + 1] = (struct CMUnitTest){ "nic_bad_specs_refused", test_bad_nics_refused, NULL, NULL, NULL };
  return _cmocka_run_group_tests("golden", tests, 2 * N + 2, NULL, NULL);
}
