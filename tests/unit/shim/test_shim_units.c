/* Unit tests of the shim's pure pieces: argv (Go flag syntax), socket address, runtime
 * options decoding (legacy Any and BootstrapParams: identity check, ttrpc address, socket dir), OCI spec → grpc.Spec trimming, mount
 * option parsing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include <cmocka.h>

#include "bootstrap.pb-c.h"
#include "common/cleanup.h"
#include "github.com/containerd/containerd/pkg/runtimeoptions/v1/api.pb-c.h"
#include "google/protobuf/any.pb-c.h"
#include "shim/address.h"
#include "shim/args.h"
#include "shim/mounts.h"
#include "shim/options.h"
#include "shim/spec.h"

static void test_args_go_flag_syntax(void **state)
{
  (void)state;
  char *argv[] = {"shim", "-namespace", "k8s.io", "-address=/run/c.sock", "--id", "abc",
                  "-publish-binary", "/usr/bin/containerd", "-debug", "start", NULL};
  struct shim_args a;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_args_parse(10, argv, &a, &err), 0);
  assert_string_equal(a.namespace_, "k8s.io");
  assert_string_equal(a.address, "/run/c.sock");
  assert_string_equal(a.id, "abc");
  assert_string_equal(a.publish_binary, "/usr/bin/containerd");
  assert_true(a.debug);
  assert_string_equal(a.action, "start");
}

static void test_args_errors(void **state)
{
  (void)state;
  struct shim_args a;
  cleanup_error veil_error_t err = NULL;
  char *unknown[] = {"shim", "-bogus", "x", NULL};
  assert_int_equal(shim_args_parse(3, unknown, &a, &err), -1);
  assert_non_null(strstr(err->msg, "bogus"));
  veil_error_release(&err);
  char *missing[] = {"shim", "-id", NULL};
  assert_int_equal(shim_args_parse(2, missing, &a, &err), -1);
  assert_non_null(strstr(err->msg, "needs an argument"));
  veil_error_release(&err);
  char *action[] = {"shim", "-id", "x", "explode", NULL};
  assert_int_equal(shim_args_parse(4, action, &a, &err), -1);
  assert_non_null(strstr(err->msg, "explode"));
  veil_error_release(&err);
  char *serve[] = {"shim", "-id", "x", "-debug=false", NULL};
  assert_int_equal(shim_args_parse(4, serve, &a, &err), 0);
  assert_null(a.action);
  assert_false(a.debug);
}

static void test_socket_address_matches_containerd(void **state)
{
  (void)state;
  char out[256];
  cleanup_error veil_error_t err = NULL;
  /* sha256("/run/containerd/containerd.sock/default/test3"), as containerd's
   * SocketAddress computes it with filepath.Join */
  assert_int_equal(shim_socket_address("/run/containerd/containerd.sock", "default", "test3",
                                       NULL, out, sizeof(out), &err),
                   0);
  assert_string_equal(out, "unix:///run/containerd/s/"
                           "47aa812be567ebae94fe3462544dd08b360c75dab0fb800ad138fd5c1b11117d");
  /* Join cleans duplicate and trailing slashes */
  char out2[256];
  assert_int_equal(shim_socket_address("/run/containerd//containerd.sock/", "default", "test3",
                                       NULL, out2, sizeof(out2), &err),
                   0);
  assert_string_equal(out, out2);
  assert_string_equal(shim_address_path(out), out + 7);
  /* a socket dir so long the path cannot fit in sun_path */
  char longdir[200];
  memset(longdir, 'd', sizeof(longdir) - 1);
  longdir[0] = '/';
  longdir[sizeof(longdir) - 1] = '\0';
  assert_int_equal(shim_socket_address("/a", "b", "c", longdir, out, sizeof(out), &err), -1);
  assert_int_equal(err->status, ENAMETOOLONG);
}

static size_t pack_options_any(const char *type_url, const char *config_path, uint8_t *buf)
{
  Runtimeoptions__V1__Options o = RUNTIMEOPTIONS__V1__OPTIONS__INIT;
  o.config_path = (char *)config_path;
  uint8_t inner[512];
  size_t n = runtimeoptions__v1__options__pack(&o, inner);
  Google__Protobuf__Any any = GOOGLE__PROTOBUF__ANY__INIT;
  any.type_url = (char *)type_url;
  any.value.data = inner;
  any.value.len = n;
  return google__protobuf__any__pack(&any, buf);
}

static void test_options_legacy_any(void **state)
{
  (void)state;
  uint8_t buf[1024];
  size_t n = pack_options_any("runtimeoptions.v1.Options", "/etc/veil/snp.json", buf);
  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "id1", "default", &boot, &err), 0);
  assert_false(boot.from_params);
  assert_string_equal(boot.config_path, "/etc/veil/snp.json");
  assert_null(boot.ttrpc_address);
  assert_null(boot.socket_dir);
  shim_bootstrap_clear(&boot);
  /* other option types (e.g. runc's) are ignored, not an error */
  cleanup_free char *path = NULL;
  n = pack_options_any("containerd.runc.v1.Options", "/x", buf);
  assert_int_equal(shim_options_from_any(buf, n, &path, &err), 0);
  assert_null(path);
  /* empty stdin (a runtime without options, containerd < 2.3): nothing */
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, 0, "id1", "default", &boot, &err), 0);
  assert_false(boot.from_params);
  assert_null(boot.config_path);
  /* garbage is neither: an error that says what was expected */
  uint8_t junk[] = {0xff, 0xff, 0xff, 0xff};
  assert_int_equal(shim_bootstrap_from_start_stdin(junk, sizeof(junk), "id1", "default", &boot,
                                                   &err),
                   -1);
  assert_int_equal(err->status, EINVAL);
  assert_non_null(strstr(err->msg, "google.protobuf.Any"));
  assert_null(boot.config_path);
}

/* A legacy options Any decodes as a BootstrapParams too (type_url = field 1, value =
 * field 2): only the -id / -namespace check tells them apart. */
static void test_options_legacy_any_is_not_taken_for_params(void **state)
{
  (void)state;
  uint8_t buf[1024];
  size_t n = pack_options_any("runtimeoptions.v1.Options", "/etc/veil/dev.json", buf);
  Containerd__Runtime__Bootstrap__V1__BootstrapParams *bp =
      containerd__runtime__bootstrap__v1__bootstrap_params__unpack(NULL, n, buf);
  assert_non_null(bp);
  assert_string_equal(bp->instance_id, "runtimeoptions.v1.Options");
  containerd__runtime__bootstrap__v1__bootstrap_params__free_unpacked(bp, NULL);

  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "pod1", "k8s.io", &boot, &err), 0);
  assert_false(boot.from_params);
  assert_string_equal(boot.config_path, "/etc/veil/dev.json");
  shim_bootstrap_clear(&boot);
}

/* BootstrapParams as containerd 2.3's pkg/shim Command() writes it. */
static size_t pack_params(const char *id, const char *ns, const char *ttrpc, const char *sock_dir,
                          const char *config_path, uint8_t *buf)
{
  uint8_t anybuf[1024];
  size_t anylen = pack_options_any("type.googleapis.com/runtimeoptions.v1.Options",
                                   config_path, anybuf);
  Google__Protobuf__Any *any = google__protobuf__any__unpack(NULL, anylen, anybuf);
  assert_non_null(any);
  Containerd__Runtime__Bootstrap__V1__Extension ext =
      CONTAINERD__RUNTIME__BOOTSTRAP__V1__EXTENSION__INIT;
  ext.value = any;
  Containerd__Runtime__Bootstrap__V1__Extension *exts[1] = {&ext};
  Containerd__Runtime__Bootstrap__V1__BootstrapParams bp =
      CONTAINERD__RUNTIME__BOOTSTRAP__V1__BOOTSTRAP_PARAMS__INIT;
  bp.instance_id = (char *)id;
  bp.namespace_ = (char *)ns;
  bp.log_level = CONTAINERD__RUNTIME__BOOTSTRAP__V1__LOG_LEVEL__DEBUG;
  bp.containerd_version = "2.3.7";
  bp.containerd_ttrpc_address = (char *)ttrpc;
  bp.containerd_grpc_address = "/run/containerd/containerd.sock";
  bp.containerd_binary = "/usr/bin/containerd";
  bp.socket_dir = (char *)sock_dir;
  bp.extensions = config_path ? exts : NULL;
  bp.n_extensions = config_path ? 1 : 0;
  size_t n = containerd__runtime__bootstrap__v1__bootstrap_params__pack(&bp, buf);
  google__protobuf__any__free_unpacked(any, NULL);
  return n;
}

static void test_options_bootstrap_params(void **state)
{
  (void)state;
  uint8_t buf[2048];
  size_t n = pack_params("pod1", "k8s.io", "/run/containerd/containerd.sock.ttrpc",
                         "/run/ctd-s", "/etc/veil/tdx.json", buf);
  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "pod1", "k8s.io", &boot, &err), 0);
  assert_true(boot.from_params);
  assert_string_equal(boot.config_path, "/etc/veil/tdx.json");
  assert_string_equal(boot.ttrpc_address, "/run/containerd/containerd.sock.ttrpc");
  assert_string_equal(boot.socket_dir, "/run/ctd-s");
  shim_bootstrap_clear(&boot);

  /* no runtime options, no socket dir: those stay unset */
  n = pack_params("pod1", "k8s.io", "/t.ttrpc", NULL, NULL, buf);
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "pod1", "k8s.io", &boot, &err), 0);
  assert_true(boot.from_params);
  assert_null(boot.config_path);
  assert_null(boot.socket_dir);
  assert_string_equal(boot.ttrpc_address, "/t.ttrpc");
  shim_bootstrap_clear(&boot);
}

/* Params for another instance or namespace are not ours: nothing of them is used (they are
 * then read as a legacy Any, which carries no veil options). */
static void test_options_bootstrap_params_identity_checked(void **state)
{
  (void)state;
  uint8_t buf[2048];
  size_t n = pack_params("pod1", "k8s.io", "/t.ttrpc", "/run/ctd-s", "/etc/veil/tdx.json", buf);
  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  const char *flags[][2] = {{"other", "k8s.io"}, {"pod1", "default"}, {"pod", "k8s.io"}};
  for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
    assert_int_equal(
        shim_bootstrap_from_start_stdin(buf, n, flags[i][0], flags[i][1], &boot, &err), 0);
    assert_false(boot.from_params);
    assert_null(boot.config_path);
    assert_null(boot.ttrpc_address);
    assert_null(boot.socket_dir);
    shim_bootstrap_clear(&boot);
  }
}

static void test_options_bootstrap_params_relative_socket_dir(void **state)
{
  (void)state;
  uint8_t buf[2048];
  size_t n = pack_params("pod1", "k8s.io", "/t.ttrpc", "run/s", NULL, buf);
  struct shim_bootstrap boot;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_bootstrap_from_start_stdin(buf, n, "pod1", "k8s.io", &boot, &err), -1);
  assert_int_equal(err->status, EINVAL);
  assert_non_null(strstr(err->msg, "`run/s`"));
  assert_null(boot.ttrpc_address);
  assert_null(boot.socket_dir);
}

static const char *oci_config =
    "{\"ociVersion\":\"1.0.2\",\"process\":{\"terminal\":false,\"user\":{\"uid\":0,\"gid\":0},"
    "\"args\":[\"sh\",\"-c\",\"echo hi\"],\"env\":[\"PATH=/bin\"],\"cwd\":\"/\","
    "\"capabilities\":{\"bounding\":[\"CAP_KILL\"]},\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\","
    "\"hard\":1024,\"soft\":1024}],\"noNewPrivileges\":true},"
    "\"root\":{\"path\":\"rootfs\",\"readonly\":true},\"hostname\":\"box\","
    "\"hooks\":{\"prestart\":[{\"path\":\"/host/hook\"}]},"
    "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
    "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"/var/lib/x/hosts\","
    "\"options\":[\"rbind\",\"ro\"]},"
    "{\"destination\":\"/dev/shm\",\"type\":\"bind\",\"source\":\"/run/sandbox/shm\","
    "\"options\":[\"rbind\"]}],"
    "\"annotations\":{\"a\":\"b\"},"
    "\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\",\"path\":\"/proc/1/ns/"
    "net\"},{\"type\":\"mount\",\"path\":\"/proc/9/ns/mnt\"},{\"type\":\"cgroup\"}],"
    "\"resources\":{\"memory\":{\"limit\":104857600},\"cpu\":{\"shares\":512}},"
    "\"cgroupsPath\":\"kubepods-besteffort.slice:cri-containerd:abc\","
    "\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\",\"major\":10,\"minor\":229}],"
    "\"seccomp\":{\"defaultAction\":\"SCMP_ACT_ERRNO\"},\"maskedPaths\":[\"/proc/kcore\"]}}";

static void test_spec_build_trims_as_kata(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  json_t *j = shim_spec_parse(oci_config, strlen(oci_config), &err);
  assert_non_null(j);
  struct spec_result r;
  assert_int_equal(shim_spec_build(j, "c1", "/run/kata-containers/shared/containers/c1/rootfs",
                                   true, &r, &err),
                   0);
  Grpc__Spec *s = r.spec;
  assert_string_equal(s->version, "1.0.2");
  assert_string_equal(s->hostname, "box");
  assert_null(s->hooks);
  assert_string_equal(s->root->path, "/run/kata-containers/shared/containers/c1/rootfs");
  assert_true(s->root->readonly);
  assert_int_equal(s->process->n_args, 3);
  assert_string_equal(s->process->args[2], "echo hi");
  assert_true(s->process->nonewprivileges);
  assert_int_equal(s->process->n_rlimits, 1);
  assert_int_equal(s->process->rlimits[0]->hard, 1024);
  assert_int_equal(s->n_annotations, 1);
  assert_string_equal(s->annotations[0]->key, "a");
  /* network and cgroup namespaces dropped, paths emptied */
  assert_int_equal(s->linux->n_namespaces, 2);
  assert_string_equal(s->linux->namespaces[0]->type, "pid");
  assert_string_equal(s->linux->namespaces[1]->type, "mount");
  assert_string_equal(s->linux->namespaces[1]->path, "");
  assert_null(s->linux->seccomp);
  assert_int_equal(s->linux->n_devices, 0);
  assert_string_equal(s->linux->cgroupspath, "/veil/c1");
  assert_int_equal(s->linux->resources->memory->limit, 104857600);
  assert_int_equal(s->linux->resources->cpu->shares, 512);
  /* the host bind goes through the share, /dev/shm becomes a tmpfs */
  assert_int_equal(s->n_mounts, 3);
  assert_string_equal(s->mounts[1]->source, GUEST_SHARED_DIR "/c1-mount1");
  assert_int_equal(r.n_shares, 1);
  assert_string_equal(r.shares[0].host_source, "/var/lib/x/hosts");
  assert_true(r.shares[0].readonly);
  assert_string_equal(s->mounts[2]->type, "tmpfs");
  shim_spec_result_clear(&r);

  /* without a shared fs (TEE), host binds are dropped */
  assert_int_equal(shim_spec_build(j, "c1", "/run/kata-containers/c1/rootfs", false, &r, &err), 0);
  assert_int_equal(r.spec->n_mounts, 2);
  assert_int_equal(r.n_dropped_mounts, 1);
  assert_int_equal(r.n_shares, 0);
  shim_spec_result_clear(&r);
  json_decref(j);
}

static void test_spec_bad_input(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  assert_null(shim_spec_parse("{not json", 9, &err));
  assert_int_equal(err->status, EINVAL);
  assert_non_null(strstr(err->msg, "not valid JSON"));
  veil_error_release(&err);
  assert_null(shim_spec_parse("[1]", 3, &err));
  veil_error_release(&err);
  const char *no_args = "{\"ociVersion\":\"1\",\"process\":{\"args\":[]}}";
  json_t *j = shim_spec_parse(no_args, strlen(no_args), &err);
  struct spec_result r;
  assert_int_equal(shim_spec_build(j, "c", "/r", true, &r, &err), -1);
  assert_non_null(strstr(err->msg, "process.args"));
  json_decref(j);
  veil_error_release(&err);
  const char *bad_type = "{\"process\":{\"args\":\"sh\"}}";
  j = shim_spec_parse(bad_type, strlen(bad_type), &err);
  assert_int_equal(shim_spec_build(j, "c", "/r", true, &r, &err), -1);
  assert_non_null(strstr(err->msg, "$.process.args: expected an array"));
  json_decref(j);
  veil_error_release(&err);
  const char *bad_range = "{\"process\":{\"args\":[\"a\"],\"user\":{\"uid\":-1}}}";
  j = shim_spec_parse(bad_range, strlen(bad_range), &err);
  assert_int_equal(shim_spec_build(j, "c", "/r", true, &r, &err), -1);
  assert_int_equal(err->status, ERANGE);
  json_decref(j);
}

static void test_mount_options(void **state)
{
  (void)state;
  char *opts[] = {"ro", "nosuid", "lowerdir=/a:/b", "upperdir=/u", "rw", "rbind"};
  unsigned long flags;
  cleanup_free char *data = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(shim_parse_mount_options(opts, 6, &flags, &data, &err), 0);
  assert_string_equal(data, "lowerdir=/a:/b,upperdir=/u");
  assert_int_equal(flags & MS_RDONLY, 0); /* rw after ro wins */
  assert_true(flags & MS_NOSUID);
  assert_true((flags & (MS_BIND | MS_REC)) == (MS_BIND | MS_REC));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_args_go_flag_syntax),
      cmocka_unit_test(test_args_errors),
      cmocka_unit_test(test_socket_address_matches_containerd),
      cmocka_unit_test(test_options_legacy_any),
      cmocka_unit_test(test_options_legacy_any_is_not_taken_for_params),
      cmocka_unit_test(test_options_bootstrap_params),
      cmocka_unit_test(test_options_bootstrap_params_identity_checked),
      cmocka_unit_test(test_options_bootstrap_params_relative_socket_dir),
      cmocka_unit_test(test_spec_build_trims_as_kata),
      cmocka_unit_test(test_spec_bad_input),
      cmocka_unit_test(test_mount_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
