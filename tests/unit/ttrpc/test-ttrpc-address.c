/* ttrpc/address.h: every form parses and round-trips (parse -> format -> parse gives the same
 * struct, format gives the canonical text), every malformed form is refused naming the
 * address, listen-only and dial-only forms are refused for the other use, and dial/listen
 * work from a parsed address. Parsing never opens a socket (no AF_VSOCK on the host). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/cleanup.h"
#include "ttrpc/address.h"
#include "ttrpc/ttrpc.h"

struct good {
  const char *text;
  enum ttrpc_address_use use;
  enum ttrpc_address_kind kind;
  uint32_t cid, port;
  int fd;
  const char *path;
  const char *canonical;  /* NULL = text */
};

static const struct good goods[] = {
  { "unix:///run/veil/x/agent.sock", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_UNIX, 0, 0, -1, "/run/veil/x/agent.sock", NULL },
  { "/run/containerd/containerd.sock.ttrpc", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_UNIX, 0, 0, -1,
    "/run/containerd/containerd.sock.ttrpc", "unix:///run/containerd/containerd.sock.ttrpc" },
  { "unix:///a:b/c", TTRPC_ADDRESS_LISTEN, TTRPC_ADDRESS_UNIX, 0, 0, -1, "/a:b/c", NULL },
  { "vsock://3:1024", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_VSOCK, 3, 1024, -1, "", NULL },
  { "vsock://1:1024", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_VSOCK, 1, 1024, -1, "", NULL },
  { "vsock://4294967294:4294967295", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_VSOCK, 4294967294u, 4294967295u, -1, "", NULL },
  { "vsock://007:01024", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_VSOCK, 7, 1024, -1, "", "vsock://7:1024" },
  { "vsock://-1:1024", TTRPC_ADDRESS_LISTEN, TTRPC_ADDRESS_VSOCK, TTRPC_VSOCK_CID_ANY, 1024, -1, "", NULL },
  { "vsock://4294967295:1024", TTRPC_ADDRESS_LISTEN, TTRPC_ADDRESS_VSOCK, TTRPC_VSOCK_CID_ANY, 1024, -1, "",
    "vsock://-1:1024" },
  { "vsock://3:1024", TTRPC_ADDRESS_LISTEN, TTRPC_ADDRESS_VSOCK, 3, 1024, -1, "", NULL },
  { "hvsock:///run/veil/p/vsock.sock:1024", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_HVSOCK, 0, 1024, -1,
    "/run/veil/p/vsock.sock", NULL },
  { "hvsock:///a:b/c.sock:7", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_HVSOCK, 0, 7, -1, "/a:b/c.sock", NULL },
  { "fd://0", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_FD, 0, 0, 0, "", NULL },
  { "fd://1048576", TTRPC_ADDRESS_DIAL, TTRPC_ADDRESS_FD, 0, 0, 1048576, "", NULL },
};

static void valid_forms_round_trip(void **state)
{
  (void)state;
  for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
    const struct good *g = &goods[i];
    cleanup_error veil_error_t err = NULL;
    struct ttrpc_address a, b;
    if (ttrpc_address_parse(g->text, g->use, &a, &err) < 0)
      fail_msg("%s: %s", g->text, err->msg);
    assert_int_equal(a.kind, g->kind);
    assert_int_equal(a.cid, g->cid);
    assert_int_equal(a.port, g->port);
    assert_int_equal(a.fd, g->fd);
    assert_string_equal(a.path, g->path);
    char text[TTRPC_ADDRESS_TEXT_MAX];
    assert_int_equal(ttrpc_address_format(&a, text, sizeof(text), &err), 0);
    assert_string_equal(text, g->canonical ? g->canonical : g->text);
    assert_int_equal(ttrpc_address_parse(text, g->use, &b, &err), 0);
    assert_memory_equal(&a, &b, sizeof(a));
    cleanup_free char *dup = ttrpc_address_to_string(&a, &err);
    assert_string_equal(dup, text);
  }
}

static void malformed_forms_are_refused_naming_the_address(void **state)
{
  (void)state;
  static const char *bad[] = {
    "vsock://", "vsock://3", "vsock://3:", "vsock://:1024", "vsock://-1:1024", "vsock://-2:1",
    "vsock://4294967295:1024", "vsock://3:4294967296", "vsock://3:10x", "vsock://99999999999:1",
    "vsock://3:1:2", "vsock://+3:1", "vsock:// 3:1", "vsock://3:1 ", "vsock://0x3:1", "vsock://-1:-1",
    "vsock://3:-1", "hvsock://rel/path:1", "hvsock:///abs/path", "hvsock:///abs/path:", "hvsock://:5",
    "hvsock:///x.sock:p", "hvsock:///x.sock:-1", "unix://", "unix://relative", "unix:/x", "tcp://1.2.3.4:5",
    "relative/path", "fd://", "fd://-1", "fd://12x", "fd://1048577", "fd:// 3", "VSOCK://3:1",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    cleanup_error veil_error_t err = NULL;
    struct ttrpc_address a;
    if (ttrpc_address_parse(bad[i], TTRPC_ADDRESS_DIAL, &a, &err) == 0)
      fail_msg("`%s` parsed", bad[i]);
    assert_int_equal(err->status, EINVAL);
    if (strstr(err->msg, bad[i]) == NULL)
      fail_msg("error for `%s` does not name it: %s", bad[i], err->msg);
  }
  cleanup_error veil_error_t err = NULL;
  struct ttrpc_address a;
  assert_int_equal(ttrpc_address_parse("", TTRPC_ADDRESS_DIAL, &a, &err), -1);
  assert_non_null(strstr(err->msg, "empty address"));
  veil_error_release(&err);
  assert_int_equal(ttrpc_address_parse(NULL, TTRPC_ADDRESS_LISTEN, &a, &err), -1);
  veil_error_release(&err);
  assert_int_equal(ttrpc_address_parse("vsock://-1:1024", TTRPC_ADDRESS_DIAL, &a, &err), -1);
  assert_non_null(strstr(err->msg, "is for listening"));
}

static void listen_refuses_dial_only_forms(void **state)
{
  (void)state;
  static const char *dial_only[] = { "hvsock:///run/vm/vsock.sock:1024", "fd://3" };
  for (size_t i = 0; i < 2; i++) {
    cleanup_error veil_error_t err = NULL;
    struct ttrpc_address a;
    assert_int_equal(ttrpc_address_parse(dial_only[i], TTRPC_ADDRESS_LISTEN, &a, &err), -1);
    assert_non_null(strstr(err->msg, "can only be dialed"));
    veil_error_release(&err);
    assert_int_equal(ttrpc_address_parse(dial_only[i], TTRPC_ADDRESS_DIAL, &a, &err), 0);
    assert_int_equal(ttrpc_address_listen(&a, &err), -1);  /* a struct made for dialing */
    assert_int_equal(err->status, EINVAL);
  }
}

static void path_length_limits(void **state)
{
  (void)state;
  char text[300], path[200];
  memset(path, 'a', sizeof(path));
  path[0] = '/';
  path[TTRPC_ADDRESS_PATH_MAX] = '\0';  /* exactly the limit */
  snprintf(text, sizeof(text), "hvsock://%s:4294967295", path);
  cleanup_error veil_error_t err = NULL;
  struct ttrpc_address a;
  assert_int_equal(ttrpc_address_parse(text, TTRPC_ADDRESS_DIAL, &a, &err), 0);
  char out[TTRPC_ADDRESS_TEXT_MAX];
  assert_int_equal(ttrpc_address_format(&a, out, sizeof(out), &err), 0);  /* the longest fits */
  assert_string_equal(out, text);
  assert_int_equal(ttrpc_address_format(&a, out, 20, &err), -1);
  assert_int_equal(err->status, ENOBUFS);
  veil_error_release(&err);
  path[TTRPC_ADDRESS_PATH_MAX] = 'a';
  path[TTRPC_ADDRESS_PATH_MAX + 1] = '\0';  /* one over */
  snprintf(text, sizeof(text), "unix://%s", path);
  assert_int_equal(ttrpc_address_parse(text, TTRPC_ADDRESS_DIAL, &a, &err), -1);
  assert_int_equal(err->status, ENAMETOOLONG);
  assert_non_null(strstr(err->msg, "the limit is 107"));
  veil_error_release(&err);
  assert_int_equal(ttrpc_address_unix(&a, path, &err), -1);
  veil_error_release(&err);
  assert_int_equal(ttrpc_address_hvsock(&a, "relative", 1, &err), -1);
}

static void builders_and_invalid_structs(void **state)
{
  (void)state;
  cleanup_error veil_error_t err = NULL;
  struct ttrpc_address a;
  char out[TTRPC_ADDRESS_TEXT_MAX];
  assert_int_equal(ttrpc_address_hvsock(&a, "/run/veil/p/vsock.sock", 1024, &err), 0);
  assert_int_equal(ttrpc_address_format(&a, out, sizeof(out), &err), 0);
  assert_string_equal(out, "hvsock:///run/veil/p/vsock.sock:1024");
  ttrpc_address_vsock(&a, 5, 1024);
  assert_int_equal(ttrpc_address_format(&a, out, sizeof(out), &err), 0);
  assert_string_equal(out, "vsock://5:1024");
  assert_int_equal(ttrpc_address_unix(&a, "/x", &err), 0);
  a.path[0] = 'x';  /* no longer absolute: no parse gives this */
  assert_int_equal(ttrpc_address_format(&a, out, sizeof(out), &err), -1);
  assert_int_equal(err->status, EINVAL);
  veil_error_release(&err);
  a.kind = TTRPC_ADDRESS_FD;
  a.fd = -1;
  assert_int_equal(ttrpc_address_format(&a, out, sizeof(out), &err), -1);
  veil_error_release(&err);
  ttrpc_address_vsock(&a, TTRPC_VSOCK_CID_ANY, 1024);
  assert_int_equal(ttrpc_address_dial(&a, 10, &err), -1);  /* refused before any socket */
  assert_non_null(strstr(err->msg, "for listening"));
}

static void dial_and_listen_from_parsed_addresses(void **state)
{
  (void)state;
  char dir[] = "/tmp/veil-addr-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char text[200];
  snprintf(text, sizeof(text), "unix://%s/s.sock", dir);
  cleanup_error veil_error_t err = NULL;
  struct ttrpc_address a;
  assert_int_equal(ttrpc_address_parse(text, TTRPC_ADDRESS_LISTEN, &a, &err), 0);
  cleanup_close int lfd = ttrpc_address_listen(&a, &err);
  assert_true(lfd >= 0);
  struct stat st;
  assert_int_equal(stat(a.path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  cleanup_close int c1 = ttrpc_address_dial(&a, 1000, &err);
  assert_true(c1 >= 0);
  cleanup_close int c2 = ttrpc_dial(a.path, 1000, &err);  /* bare path = unix */
  assert_true(c2 >= 0);
  snprintf(text, sizeof(text), "fd://%d", c1);
  cleanup_close int c3 = ttrpc_dial(text, 0, &err);
  assert_true(c3 >= 3 && c3 != c1);  /* a duplicate, CLOEXEC */
  assert_int_equal(ttrpc_listen("hvsock:///x.sock:1", &err), -1);
  veil_error_release(&err);
  unlink(a.path);
  rmdir(dir);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(valid_forms_round_trip),
    cmocka_unit_test(malformed_forms_are_refused_naming_the_address),
    cmocka_unit_test(listen_refuses_dial_only_forms),
    cmocka_unit_test(path_length_limits),
    cmocka_unit_test(builders_and_invalid_structs),
    cmocka_unit_test(dial_and_listen_from_parsed_addresses),
  };
  return cmocka_run_group_tests_name("ttrpc-address", tests, NULL, NULL);
}
