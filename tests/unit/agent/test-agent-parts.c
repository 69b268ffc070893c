/* veil-agent parts tested directly: grpc.Spec -> config.json (golden file),
 * the policy parser, initdata images, mount options, network field syntax, virtio-serial
 * port lookup
 * (on a fake sysfs tree: the real one exists only in the guest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "agent/channel.h"
#include "agent/guest_init.h"
#include "agent/net_parse.h"
#include "agent/policy.h"
#include "agent/spec_json.h"
#include "agent/storage.h"
#include "agent/sysctl.h"
#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/initdata.h"

static char *golden_path(const char *name)
{
  const char *src = getenv("VEIL_SOURCE_ROOT");
  char *p = NULL;
  assert_true(asprintf(&p, "%s/tests/unit/agent/golden/%s", src ? src : ".", name) > 0);
  return p;
}

/* A spec exercising every converted section. */
static void test_spec_to_config_json_golden(void **state)
{
  (void)state;
  Grpc__Spec s = GRPC__SPEC__INIT;
  s.version = "1.1.0";
  s.hostname = "pod";
  Grpc__Process p = GRPC__PROCESS__INIT;
  p.terminal = true;
  Grpc__Box box = GRPC__BOX__INIT;
  box.height = 24;
  box.width = 80;
  p.consolesize = &box;
  Grpc__User u = GRPC__USER__INIT;
  u.uid = 1000;
  u.gid = 1000;
  uint32_t gids[] = { 10, 20 };
  u.n_additionalgids = 2;
  u.additionalgids = gids;
  p.user = &u;
  char *args[] = { "/bin/sh", "-c", "echo hi" };
  p.n_args = 3;
  p.args = args;
  char *env[] = { "PATH=/bin", "TERM=xterm" };
  p.n_env = 2;
  p.env = env;
  p.cwd = "/work";
  Grpc__LinuxCapabilities caps = GRPC__LINUX_CAPABILITIES__INIT;
  char *bounding[] = { "CAP_CHOWN", "CAP_KILL" };
  caps.n_bounding = 2;
  caps.bounding = bounding;
  caps.n_effective = 2;
  caps.effective = bounding;
  p.capabilities = &caps;
  Grpc__POSIXRlimit rl = GRPC__POSIXRLIMIT__INIT;
  rl.type = "RLIMIT_NOFILE";
  rl.hard = 1024;
  rl.soft = 512;
  Grpc__POSIXRlimit *rls[] = { &rl };
  p.n_rlimits = 1;
  p.rlimits = rls;
  p.nonewprivileges = true;
  p.oomscoreadj = -500;
  s.process = &p;
  Grpc__Root root = GRPC__ROOT__INIT;
  root.path = "/run/kata-containers/shared/containers/c1/rootfs";
  root.readonly = true;
  s.root = &root;
  Grpc__Mount m = GRPC__MOUNT__INIT;
  m.destination = "/proc";
  m.source = "proc";
  m.type = "proc";
  char *mopts[] = { "nosuid", "noexec" };
  m.n_options = 2;
  m.options = mopts;
  Grpc__Mount *ms[] = { &m };
  s.n_mounts = 1;
  s.mounts = ms;
  Grpc__Spec__AnnotationsEntry ann = GRPC__SPEC__ANNOTATIONS_ENTRY__INIT;
  ann.key = "io.kubernetes.cri.container-type";
  ann.value = "container";
  Grpc__Spec__AnnotationsEntry *anns[] = { &ann };
  s.n_annotations = 1;
  s.annotations = anns;
  Grpc__Hooks hooks = GRPC__HOOKS__INIT; /* must not appear in config.json */
  Grpc__Hook hook = GRPC__HOOK__INIT;
  hook.path = "/bin/evil";
  Grpc__Hook *hs[] = { &hook };
  hooks.n_prestart = 1;
  hooks.prestart = hs;
  s.hooks = &hooks;
  Grpc__Linux l = GRPC__LINUX__INIT;
  Grpc__Linux__SysctlEntry sc = GRPC__LINUX__SYSCTL_ENTRY__INIT;
  sc.key = "net.ipv4.ip_forward";
  sc.value = "1";
  Grpc__Linux__SysctlEntry *scs[] = { &sc };
  l.n_sysctl = 1;
  l.sysctl = scs;
  Grpc__LinuxResources res = GRPC__LINUX_RESOURCES__INIT;
  Grpc__LinuxMemory mem = GRPC__LINUX_MEMORY__INIT;
  mem.limit = 268435456;
  res.memory = &mem;
  Grpc__LinuxCPU cpu = GRPC__LINUX_CPU__INIT;
  cpu.shares = 1024;
  cpu.quota = 50000;
  cpu.period = 100000;
  res.cpu = &cpu;
  Grpc__LinuxPids pids = GRPC__LINUX_PIDS__INIT;
  pids.limit = 100;
  res.pids = &pids;
  Grpc__LinuxDeviceCgroup dc = GRPC__LINUX_DEVICE_CGROUP__INIT;
  dc.allow = false;
  dc.major = -1;
  dc.minor = -1;
  dc.access = "rwm";
  Grpc__LinuxDeviceCgroup *dcs[] = { &dc };
  res.n_devices = 1;
  res.devices = dcs;
  l.resources = &res;
  l.cgroupspath = "/kubepods/pod1/c1";
  Grpc__LinuxNamespace ns1 = GRPC__LINUX_NAMESPACE__INIT, ns2 = GRPC__LINUX_NAMESPACE__INIT;
  ns1.type = "pid";
  ns2.type = "mount";
  Grpc__LinuxNamespace *nss[] = { &ns1, &ns2 };
  l.n_namespaces = 2;
  l.namespaces = nss;
  Grpc__LinuxDevice dev = GRPC__LINUX_DEVICE__INIT;
  dev.path = "/dev/fuse";
  dev.type = "c";
  dev.major = 10;
  dev.minor = 229;
  dev.filemode = 0666;
  Grpc__LinuxDevice *devs[] = { &dev };
  l.n_devices = 1;
  l.devices = devs;
  Grpc__LinuxSeccomp sec = GRPC__LINUX_SECCOMP__INIT;
  sec.defaultaction = "SCMP_ACT_ERRNO";
  char *arches[] = { "SCMP_ARCH_X86_64" };
  sec.n_architectures = 1;
  sec.architectures = arches;
  Grpc__LinuxSyscall sys = GRPC__LINUX_SYSCALL__INIT;
  char *names[] = { "read", "write" };
  sys.n_names = 2;
  sys.names = names;
  sys.action = "SCMP_ACT_ALLOW";
  Grpc__LinuxSyscall sys2 = GRPC__LINUX_SYSCALL__INIT;
  char *names2[] = { "ptrace" };
  sys2.n_names = 1;
  sys2.names = names2;
  sys2.action = "SCMP_ACT_ERRNO";
  sys2.errno_ret_case = GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET;
  sys2.errnoret = 1;
  Grpc__LinuxSyscall *syss[] = { &sys, &sys2 };
  sec.n_syscalls = 2;
  sec.syscalls = syss;
  l.seccomp = &sec;
  char *masked[] = { "/proc/kcore" };
  l.n_maskedpaths = 1;
  l.maskedpaths = masked;
  char *ro[] = { "/proc/sys" };
  l.n_readonlypaths = 1;
  l.readonlypaths = ro;
  s.linux = &l;

  veil_error_t err = NULL;
  json_t *got = agent_spec_to_json(&s, &err);
  assert_non_null(got);
  cleanup_free char *gp = golden_path("spec-config.json");
  json_error_t jerr;
  json_t *want = json_load_file(gp, 0, &jerr);
  if (!want)
    fail_msg("golden %s: %s", gp, jerr.text);
  if (!json_equal(got, want)) {
    char *dump = json_dumps(got, JSON_INDENT(2) | JSON_SORT_KEYS);
    fprintf(stderr, "got:\n%s\n", dump);
    free(dump);
    fail_msg("config.json differs from %s", gp);
  }
  json_decref(got);
  json_decref(want);
}

static void test_spec_requires_root_and_args(void **state)
{
  (void)state;
  veil_error_t err = NULL;
  Grpc__Spec s = GRPC__SPEC__INIT;
  assert_null(agent_spec_to_json(&s, &err));
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_INVALID_ARGUMENT);
  veil_error_release(&err);
  Grpc__Root root = GRPC__ROOT__INIT;
  root.path = "/r";
  s.root = &root;
  Grpc__Process p = GRPC__PROCESS__INIT;
  s.process = &p;
  assert_null(agent_spec_to_json(&s, &err));
  assert_non_null(strstr(err->msg, "no args"));
  veil_error_release(&err);
}

static void test_policy_parse(void **state)
{
  (void)state;
  struct agent_policy p = { 0 };
  veil_error_t err = NULL;
  /* no policy: everything allowed */
  assert_int_equal(agent_policy_check(&p, "ExecProcessRequest", &err), 0);
  const char *text = "package agent_policy\n\nimport future.keywords.in\n"
                     "default CreateContainerRequest := true # trailing comment\n"
                     "default ExecProcessRequest := false\n"
                     "default ExecProcessRequest := true\n";
  assert_int_equal(agent_policy_parse(text, strlen(text), &p, &err), 0);
  assert_int_equal(p.n_rules, 2);
  assert_int_equal(agent_policy_check(&p, "CreateContainerRequest", &err), 0);
  assert_int_equal(agent_policy_check(&p, "ExecProcessRequest", &err), 0); /* last rule wins */
  assert_int_equal(agent_policy_check(&p, "CopyFileRequest", &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_PERMISSION_DENIED);
  veil_error_release(&err);
  /* rejected texts leave the old policy in place */
  const char *bad[] = { "default X := maybe\n", "allow { true }\n", "default := true\n",
                        "default 1abc := true\n" };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    assert_int_equal(agent_policy_parse(bad[i], strlen(bad[i]), &p, &err), -1);
    assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_INVALID_ARGUMENT);
    veil_error_release(&err);
  }
  assert_int_equal(p.n_rules, 2);
  const char nul[] = "default A := true\n\0default B := true\n";
  assert_int_equal(agent_policy_parse(nul, sizeof(nul) - 1, &p, &err), -1);
  veil_error_release(&err);
  agent_policy_clear(&p);
}

/* gzip `data` (zlib, gzip wrapper) into an initdata image. */
static unsigned char *make_initdata(const char *data, size_t *len)
{
  size_t cap = compressBound(strlen(data)) + 64;
  unsigned char *img = calloc(1, 16 + cap + 512);
  z_stream z = { 0 };
  assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  z.next_in = (unsigned char *)data;
  z.avail_in = (uInt)strlen(data);
  z.next_out = img + 16;
  z.avail_out = (uInt)cap;
  assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
  uint64_t glen = z.total_out;
  deflateEnd(&z);
  memcpy(img, "initdata", 8);
  for (int i = 0; i < 8; i++)
    img[8 + i] = (unsigned char)(glen >> (8 * i));
  *len = (16 + glen + 511) / 512 * 512;
  return img;
}

/* What the agent reports for an image the host wrote: the digest of the TOML as read back by
 * the shared contract (common/initdata.h), in the GetGuestDetails feature form. */
static void test_initdata_digest(void **state)
{
  (void)state;
  /* sha256 of this exact text, computed with sha256sum(1). */
  const char *toml = "version = \"0.1.0\"\nalgorithm = \"sha256\"\n\n[data]\n\"policy.rego\" = "
                     "\"package agent_policy\"\n";
  size_t len;
  unsigned char *img = make_initdata(toml, &len);
  veil_error_t err = NULL;
  struct veil_initdata *d = NULL;
  if (veil_initdata_from_image(img, len, &d, &err) < 0)
    fail_msg("%s", err->msg);
  char *f = veil_initdata_digest_feature(d->algorithm, d->digest, d->digest_len);
  assert_string_equal(f, "initdata-digest=sha256:ec432606698641f33d970e8ba0655ec98ee420d10078c18ba13c18c0753d4f5c");
  assert_int_equal(d->toml_len, strlen(toml));
  assert_memory_equal(d->toml, toml, d->toml_len);
  free(f);
  veil_initdata_free(d);
  free(img);
}

static void test_initdata_rejects_bad_images(void **state)
{
  (void)state;
  veil_error_t err = NULL;
  struct veil_initdata *d = NULL;
  size_t len;
  unsigned char *img = make_initdata("version = \"0.1.0\"\nalgorithm = \"md5\"\n", &len);
  assert_int_equal(veil_initdata_from_image(img, len, &d, &err), -1);
  assert_non_null(strstr(err->msg, "md5"));
  veil_error_release(&err);
  free(img);
  img = make_initdata("version = \"0.1.0\"\n", &len);
  assert_int_equal(veil_initdata_from_image(img, len, &d, &err), -1);
  assert_non_null(strstr(err->msg, "algorithm"));
  veil_error_release(&err);
  /* a length larger than the image */
  img[8] = 0xff, img[9] = 0xff, img[10] = 0x0f;
  assert_int_equal(veil_initdata_from_image(img, len, &d, &err), -1);
  veil_error_release(&err);
  /* wrong magic */
  img[0] = 'X';
  assert_int_equal(veil_initdata_from_image(img, len, &d, &err), -1);
  assert_non_null(strstr(err->msg, "magic"));
  veil_error_release(&err);
  assert_null(d);
  free(img);
}

static void test_mount_options_and_paths(void **state)
{
  (void)state;
  char *opts[] = { "ro", "nosuid", "trans=virtio", "version=9p2000.L", "nodev", "msize=524288" };
  unsigned long flags;
  char *data = NULL;
  veil_error_t err = NULL;
  assert_int_equal(agent_mount_options(opts, 6, &flags, &data, &err), 0);
  assert_int_equal(flags, MS_RDONLY | MS_NOSUID | MS_NODEV);
  assert_string_equal(data, "trans=virtio,version=9p2000.L,msize=524288");
  free(data);
  assert_true(agent_path_is_clean("/run/kata-containers/x"));
  assert_true(agent_path_is_clean("/run/a..b/c"));
  assert_false(agent_path_is_clean("/run/../etc"));
  assert_false(agent_path_is_clean("/run/.."));
  assert_false(agent_path_is_clean("run/x"));
  assert_false(agent_path_is_clean(""));
}

static void test_sysctl_names(void **state)
{
  (void)state;
  char path[AGENT_SYSCTL_KEY_MAX + 1];
  assert_true(agent_sysctl_path("net.ipv4.ping_group_range", path, sizeof(path)));
  assert_string_equal(path, "net/ipv4/ping_group_range");
  /* the slashed form keeps dots inside components (an interface eth0.100) */
  assert_true(agent_sysctl_path("net/ipv4/conf/eth0.100/rp_filter", path, sizeof(path)));
  assert_string_equal(path, "net/ipv4/conf/eth0.100/rp_filter");
  const char *bad[] = { "", "net..ipv4", ".net.ipv4", "net.ipv4.", "net/../../etc/passwd",
                        "net/./x", "net/ipv4/", "/net/ipv4", "net.ipv4.a b", "net.ipv4.x\n" };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
    assert_false(agent_sysctl_key_valid(bad[i]));
  char longkey[AGENT_SYSCTL_KEY_MAX + 2];
  memset(longkey, 'a', sizeof(longkey) - 1);
  longkey[sizeof(longkey) - 1] = '\0';
  assert_false(agent_sysctl_key_valid(longkey));
}

static void test_net_sysctls_written_and_removed(void **state)
{
  (void)state;
  char dir[] = "/tmp/veil-agent-procsys-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char p[PATH_MAX];
  veil_error_t err = NULL;
  snprintf(p, sizeof(p), "%s/net/ipv4", dir);
  assert_int_equal(veil_mkdir_p(p, 0755, &err), 0);
  snprintf(p, sizeof(p), "%s/net/ipv4/ping_group_range", dir);
  assert_int_equal(veil_write_file_atomic(p, "1\t0\n", 4, 0644, &err), 0);
  snprintf(p, sizeof(p), "%s/net/ipv4/ip_unprivileged_port_start", dir);
  assert_int_equal(veil_write_file_atomic(p, "1024\n", 5, 0644, &err), 0);
  json_error_t je;
  json_t *config = json_loads("{\"linux\":{\"sysctl\":{\"net.ipv4.ping_group_range\":\"0 2147483647\","
                              "\"net.ipv4.ip_unprivileged_port_start\":\"0\",\"kernel.shmmax\":\"4096\"}}}",
                              0, &je);
  assert_non_null(config);
  assert_int_equal(agent_apply_net_sysctls(config, dir, &err), 0);
  char *got = NULL;
  size_t len = 0;
  snprintf(p, sizeof(p), "%s/net/ipv4/ping_group_range", dir);
  assert_int_equal(veil_read_file(p, 4096, &got, &len, &err), 0);
  assert_string_equal(got, "0 2147483647");
  free(got);
  snprintf(p, sizeof(p), "%s/net/ipv4/ip_unprivileged_port_start", dir);
  assert_int_equal(veil_read_file(p, 4096, &got, &len, &err), 0);
  assert_string_equal(got, "0");
  free(got);
  /* net.* is gone from what the OCI runtime sees; the IPC sysctl stays for it */
  json_t *sysctl = json_object_get(json_object_get(config, "linux"), "sysctl");
  assert_int_equal(json_object_size(sysctl), 1);
  assert_non_null(json_object_get(sysctl, "kernel.shmmax"));
  json_decref(config);

  /* a sysctl the kernel does not have: InvalidArgument naming it */
  config = json_loads("{\"linux\":{\"sysctl\":{\"net.ipv4.no_such_thing\":\"1\"}}}", 0, &je);
  assert_int_equal(agent_apply_net_sysctls(config, dir, &err), -1);
  assert_int_equal(veil_error_grpc_code(err), VEIL_GRPC_INVALID_ARGUMENT);
  assert_non_null(strstr(err->msg, "net.ipv4.no_such_thing"));
  assert_non_null(strstr(err->msg, "no such sysctl"));
  veil_error_release(&err);
  json_decref(config);

  /* a path out of /proc/sys is refused before anything is opened */
  config = json_loads("{\"linux\":{\"sysctl\":{\"net/../../../tmp/x\":\"1\"}}}", 0, &je);
  assert_int_equal(agent_apply_net_sysctls(config, dir, &err), -1);
  assert_non_null(strstr(err->msg, "not a sysctl name"));
  veil_error_release(&err);
  json_decref(config);

  /* a symlink planted under the tree is not followed */
  snprintf(p, sizeof(p), "%s/net/ipv4/link", dir);
  char target[PATH_MAX];
  snprintf(target, sizeof(target), "%s/outside", dir);
  assert_int_equal(veil_write_file_atomic(target, "x", 1, 0644, &err), 0);
  assert_int_equal(symlink(target, p), 0);
  config = json_loads("{\"linux\":{\"sysctl\":{\"net.ipv4.link\":\"1\"}}}", 0, &je);
  assert_int_equal(agent_apply_net_sysctls(config, dir, &err), -1);
  veil_error_release(&err);
  json_decref(config);
  assert_int_equal(veil_read_file(target, 16, &got, &len, &err), 0);
  assert_string_equal(got, "x");
  free(got);
  assert_int_equal(veil_remove_tree(dir, &err), 0);
}

static void test_channel_find_fake_sysfs(void **state)
{
  (void)state;
  char dir[] = "/tmp/veil-agent-sysfs-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char p[PATH_MAX];
  veil_error_t err = NULL;
  const char *ports[][2] = { { "vport0p0", "org.qemu.guest_agent.0" },
                             { "vport0p1", "agent.channel.0" } };
  for (int i = 0; i < 2; i++) {
    snprintf(p, sizeof(p), "%s/sys/%s", dir, ports[i][0]);
    assert_int_equal(veil_mkdir_p(p, 0755, &err), 0);
    snprintf(p, sizeof(p), "%s/sys/%s/name", dir, ports[i][0]);
    assert_int_equal(veil_write_file_atomic(p, ports[i][1], strlen(ports[i][1]), 0644, &err), 0);
  }
  snprintf(p, sizeof(p), "%s/dev", dir);
  mkdir(p, 0755);
  snprintf(p, sizeof(p), "%s/dev/vport0p1", dir);
  assert_int_equal(veil_write_file_atomic(p, "", 0, 0600, &err), 0);
  char sys[PATH_MAX], dev[PATH_MAX];
  snprintf(sys, sizeof(sys), "%s/sys", dir);
  snprintf(dev, sizeof(dev), "%s/dev", dir);
  char *found = agent_channel_find(sys, dev, "agent.channel.0", &err);
  assert_non_null(found);
  assert_string_equal(found, p);
  free(found);
  assert_null(agent_channel_find(sys, dev, "agent.channel.9", &err));
  assert_non_null(strstr(err->msg, "agent.channel.9"));
  veil_error_release(&err);
  veil_remove_tree(dir, &err);
}

static void test_net_field_syntax(void **state)
{
  (void)state;
  uint8_t mac[6];
  assert_true(agent_parse_mac("02:42:AC:11:0:2", mac));
  assert_int_equal(mac[2], 0xac);
  assert_int_equal(mac[4], 0);
  static const char *bad_macs[] = { "", "02:42:ac:11:00", "02:42:ac:11:00:02:03", "02-42-ac-11-00-02",
                                    "02:42:ac:11:00:2g", "002:42:ac:11:00:02", "02:42:ac:11:00:02 " };
  for (size_t i = 0; i < sizeof(bad_macs) / sizeof(bad_macs[0]); i++)
    assert_false(agent_parse_mac(bad_macs[i], mac));
  struct agent_ip ip;
  assert_true(agent_parse_cidr("10.0.0.0/24", &ip));
  assert_int_equal(ip.family, AF_INET);
  assert_int_equal(ip.prefix, 24);
  assert_true(agent_parse_cidr("fd00::1", &ip));
  assert_int_equal(ip.family, AF_INET6);
  assert_int_equal(ip.prefix, -1);
  assert_true(agent_parse_cidr("::/0", &ip));
  assert_int_equal(ip.prefix, 0);
  static const char *bad_cidrs[] = { "", "10.0.0.0/33", "fd00::/129", "10.0.0/8", "010.0.0.1",
                                     "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/2x", "[fd00::1]",
                                     "fe80::1%eth0", "10.0.0.1 " };
  for (size_t i = 0; i < sizeof(bad_cidrs) / sizeof(bad_cidrs[0]); i++)
    assert_false(agent_parse_cidr(bad_cidrs[i], &ip));
  int prefix;
  assert_true(agent_parse_prefix("128", AF_INET6, &prefix));
  assert_false(agent_parse_prefix("128", AF_INET, &prefix));
  assert_false(agent_parse_prefix("", AF_INET, &prefix));
  assert_true(agent_ifname_valid("eth0"));
  assert_true(agent_ifname_valid("a-15-char-name_"));
  static const char *bad_names[] = { "", ".", "..", "a/b", "eth0:1", "eth 0", "sixteen-chars-xx" };
  for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++)
    assert_false(agent_ifname_valid(bad_names[i]));
  char hw[AGENT_NET_HW_TEXT], text[AGENT_NET_MAX_ADDR_TEXT];
  agent_format_hw(mac, 6, hw);
  assert_string_equal(hw, "02:42:ac:11:00:02");
  agent_format_hw(mac, 0, hw);
  assert_string_equal(hw, "");
  assert_true(agent_parse_ip("fd00::a", &ip));
  agent_format_ip(ip.family, ip.bytes, 64, true, text);
  assert_string_equal(text, "fd00::a/64");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_spec_to_config_json_golden),
    cmocka_unit_test(test_spec_requires_root_and_args),
    cmocka_unit_test(test_policy_parse),
    cmocka_unit_test(test_initdata_digest),
    cmocka_unit_test(test_initdata_rejects_bad_images),
    cmocka_unit_test(test_mount_options_and_paths),
    cmocka_unit_test(test_channel_find_fake_sysfs),
    cmocka_unit_test(test_net_field_syntax),
    cmocka_unit_test(test_sysctl_names),
    cmocka_unit_test(test_net_sysctls_written_and_removed),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
