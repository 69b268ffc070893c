/* Transports: unix listen/dial, fd://, address parsing for vsock and hybrid
 * vsock, and the hybrid-vsock CONNECT/OK handshake against a fake of the
 * Firecracker side (a unix socket that speaks CONNECT/OK: the VMM cannot run
 * here). No AF_VSOCK socket is ever created by these tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "common/cleanup.h"
#include "harness.h"
#include "ttrpc/transport.h"

static char dir[64];

static int setup(void **state)
{
  (void)state;
  snprintf(dir, sizeof(dir), "/tmp/veil-ttrpc-tr-XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
  return system(cmd);
}

static void test_listen_unix_mode_and_errors(void **state)
{
  (void)state;
  char path[128];
  snprintf(path, sizeof(path), "%s/a.sock", dir);
  veil_error_t err = NULL;
  int fd = ttrpc_listen_unix(path, &err);
  assert_true(fd >= 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_true(S_ISSOCK(st.st_mode));
  assert_int_equal(st.st_mode & 0777, 0600);
  /* a live server keeps its socket */
  assert_int_equal(ttrpc_listen_unix(path, &err), -1);
  assert_int_equal(err->status, EADDRINUSE);
  veil_error_release(&err);
  close(fd);
  /* a stale socket is replaced */
  fd = ttrpc_listen_unix(path, &err);
  assert_true(fd >= 0);
  close(fd);
  /* a regular file in the way is not removed */
  char file[128];
  snprintf(file, sizeof(file), "%s/file", dir);
  close(open(file, O_CREAT | O_WRONLY, 0644));
  assert_int_equal(ttrpc_listen_unix(file, &err), -1);
  assert_non_null(strstr(err->msg, "not a socket"));
  veil_error_release(&err);
  assert_int_equal(access(file, F_OK), 0);
  /* path length: 107 bytes is the limit, with a clear message */
  char longp[200];
  memset(longp, 'x', sizeof(longp));
  memcpy(longp, "/tmp/", 5);
  longp[108] = '\0';
  assert_int_equal(ttrpc_listen_unix(longp, &err), -1);
  assert_int_equal(err->status, ENAMETOOLONG);
  assert_non_null(strstr(err->msg, "108 bytes"));
  assert_non_null(strstr(err->msg, "107"));
  veil_error_release(&err);
  assert_int_equal(ttrpc_dial(longp, 100, &err), -1);
  assert_int_equal(err->status, ENAMETOOLONG);
  veil_error_release(&err);
  /* missing parent directory */
  assert_int_equal(ttrpc_listen_unix("/nonexistent-veil-dir/x.sock", &err), -1);
  veil_error_release(&err);
}

static void test_dial_unix_and_fd(void **state)
{
  (void)state;
  char path[128];
  snprintf(path, sizeof(path), "%s/b.sock", dir);
  veil_error_t err = NULL;
  /* nobody listening */
  assert_int_equal(ttrpc_dial(path, 100, &err), -1);
  assert_non_null(strstr(err->msg, path));
  veil_error_release(&err);
  int lfd = ttrpc_listen_unix(path, &err);
  assert_true(lfd >= 0);
  char url[160];
  snprintf(url, sizeof(url), "unix://%s", path);
  int fd = ttrpc_dial(url, 1000, &err);
  assert_true(fd >= 0);
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  /* fd:// duplicates an open descriptor */
  snprintf(url, sizeof(url), "fd://%d", fd);
  int dup = ttrpc_dial(url, 0, &err);
  assert_true(dup >= 0 && dup != fd);
  close(dup);
  close(fd);
  assert_int_equal(ttrpc_dial("fd://999999", 0, &err), -1);
  veil_error_release(&err);
  assert_int_equal(ttrpc_dial("fd://12x", 0, &err), -1);
  assert_non_null(strstr(err->msg, "fd://N"));
  veil_error_release(&err);
  assert_int_equal(ttrpc_dial("tcp://1.2.3.4:5", 0, &err), -1);
  assert_non_null(strstr(err->msg, "unsupported address"));
  veil_error_release(&err);
  close(lfd);
}

/* Fake Firecracker vsock muxer: reads "CONNECT <port>\n", answers per mode,
 * then (mode 0) echoes one ttrpc-sized blob to show the stream is intact. */
struct fake_fc {
  int lfd;
  int mode; /* 0: "OK 1073741824\n" + trailing bytes, 1: refuse text, 2: close */
  char got[64];
};

static void *fake_fc_main(void *arg)
{
  struct fake_fc *f = arg;
  int fd = accept(f->lfd, NULL, NULL);
  if (fd < 0)
    return NULL;
  size_t n = 0;
  while (n < sizeof(f->got) - 1) {
    if (read(fd, f->got + n, 1) != 1)
      break;
    if (f->got[n++] == '\n')
      break;
  }
  f->got[n] = '\0';
  if (f->mode == 0) {
    /* reply and the first bytes of the guest's stream in one write */
    const char msg[] = "OK 1073741824\nPAYLOAD";
    raw_write_all(fd, msg, sizeof(msg) - 1);
  } else if (f->mode == 1) {
    const char msg[] = "FAILURE no listener\n";
    raw_write_all(fd, msg, sizeof(msg) - 1);
  }
  usleep(100000);
  close(fd);
  return NULL;
}

static void test_hvsock_handshake_fake_firecracker(void **state)
{
  (void)state;
  char path[128], url[160];
  snprintf(path, sizeof(path), "%s/fc.vsock", dir);
  snprintf(url, sizeof(url), "hvsock://%s:1024", path);
  for (int mode = 0; mode < 3; mode++) {
    struct fake_fc f = { .lfd = ttrpc_listen_unix(path, NULL), .mode = mode };
    assert_true(f.lfd >= 0);
    pthread_t th;
    pthread_create(&th, NULL, fake_fc_main, &f);
    veil_error_t err = NULL;
    int fd = ttrpc_dial(url, 2000, &err);
    if (mode == 0) {
      assert_true(fd >= 0);
      /* nothing after the OK line was consumed by the handshake */
      char buf[7];
      assert_int_equal(raw_read_all(fd, buf, 7), 0);
      assert_memory_equal(buf, "PAYLOAD", 7);
      close(fd);
    } else {
      assert_int_equal(fd, -1);
      assert_int_equal(err->status, ECONNREFUSED);
      assert_non_null(strstr(err->msg, "CONNECT 1024"));
      if (mode == 1)
        assert_non_null(strstr(err->msg, "FAILURE no listener"));
      veil_error_release(&err);
    }
    pthread_join(th, NULL);
    assert_string_equal(f.got, "CONNECT 1024\n");
    close(f.lfd);
  }
}

/* The handshake is bounded by the timeout when the VMM never answers. */
static void test_hvsock_handshake_timeout(void **state)
{
  (void)state;
  char path[128], url[160];
  snprintf(path, sizeof(path), "%s/mute.vsock", dir);
  snprintf(url, sizeof(url), "hvsock://%s:5", path);
  int lfd = ttrpc_listen_unix(path, NULL);
  assert_true(lfd >= 0);
  veil_error_t err = NULL;
  assert_int_equal(ttrpc_dial(url, 200, &err), -1);
  assert_int_equal(err->status, ETIMEDOUT);
  veil_error_release(&err);
  close(lfd);
}

/* A server can serve an already-open byte stream (what the agent does with its
 * virtio-serial port): here one end of a socketpair via ttrpc_server_add_connection. */
static int h_hi(void *user, const struct ttrpc_request_ctx *ctx, const uint8_t *req, size_t len,
                uint8_t **resp, size_t *resp_len, veil_error_t *err)
{
  (void)user; (void)ctx; (void)req; (void)len; (void)err;
  *resp = (uint8_t *)strdup("hi");
  *resp_len = 2;
  return 0;
}

static int closed_fd = -2;
static void on_closed(void *user, int fd)
{
  (void)user;
  closed_fd = fd;
}

static void test_server_on_open_stream(void **state)
{
  (void)state;
  struct test_server t;
  test_server_start(&t, NULL, NULL, NULL);
  assert_int_equal(ttrpc_server_register(t.s, "s", "Hi", h_hi, NULL, 0, NULL), 0);
  ttrpc_server_on_connection_closed(t.s, on_closed, NULL);
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int server_end = sv[1];
  assert_int_equal(ttrpc_server_add_connection(t.s, sv[1], NULL), 0);
  ttrpc_client *c = ttrpc_client_new(sv[0], NULL);
  uint8_t *resp = NULL;
  size_t len;
  assert_int_equal(ttrpc_client_call(c, "s", "Hi", NULL, 0, 0, NULL, 0, &resp, &len, NULL), 0);
  assert_memory_equal(resp, "hi", 2);
  free(resp);
  ttrpc_client_free(c);
  for (int i = 0; i < 5000 && closed_fd != server_end; i++)
    usleep(1000);
  assert_int_equal(closed_fd, server_end);
  test_server_stop(&t);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_listen_unix_mode_and_errors),
    cmocka_unit_test(test_dial_unix_and_fd),
    cmocka_unit_test(test_hvsock_handshake_fake_firecracker),
    cmocka_unit_test(test_hvsock_handshake_timeout),
    cmocka_unit_test(test_server_on_open_stream),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
