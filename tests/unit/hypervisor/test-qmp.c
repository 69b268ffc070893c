/* QMP client against a real QEMU (-machine none, no guest) and against a scripted peer for
 * malformed or oversized messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_tree.h"
#include "hypervisor/qmp.h"

VEIL_DEFINE_CLEANUP(struct veil_qmp, veil_qmp_free)

static pid_t start_qemu(const char *sock)
{
  char chardev[4400];
  snprintf(chardev, sizeof(chardev), "socket,id=qmp,path=%s,server=on,wait=off", sock);
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 0);
    dup2(null, 1);
    execl("/usr/bin/qemu-system-x86_64", "qemu-system-x86_64", "-machine", "none", "-nodefaults", "-display",
          "none", "-chardev", chardev, "-mon", "chardev=qmp,mode=control", (char *)NULL);
    _exit(127);
  }
  return pid;
}

static void test_real_qemu_session(void **state)
{
  (void)state;
  char *dir = fake_tree_new();
  char sock[4200];
  snprintf(sock, sizeof(sock), "%s/qmp.sock", dir);
  cleanup_pid pid_t pid = start_qemu(sock);
  cleanup_with(veil_qmp_free) struct veil_qmp *q = NULL;
  cleanup_error veil_error_t err = NULL;
  for (int i = 0; i < 500 && veil_qmp_connect(sock, 5000, &q, &err) < 0; i++) {
    veil_error_release(&err);
    usleep(10000);
  }
  if (q == NULL)
    fail_msg("connect: %s", err ? err->msg : "timeout");
  json_t *ret = NULL;
  assert_int_equal(veil_qmp_execute(q, "query-status", NULL, 5000, &ret, &err), 0);
  assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
  json_decref(ret);
  /* an error reply carries QEMU's class and description */
  assert_int_equal(veil_qmp_execute(q, "no-such-command", NULL, 5000, NULL, &err), -1);
  assert_non_null(strstr(err->msg, "CommandNotFound"));
  veil_error_release(&err);
  /* events are recorded while waiting for replies */
  assert_int_equal(veil_qmp_execute(q, "stop", NULL, 5000, NULL, &err), 0);
  assert_int_equal(veil_qmp_execute(q, "query-status", NULL, 5000, &ret, &err), 0);
  json_decref(ret);
  assert_true(veil_qmp_events(q)->stopped);
  assert_string_equal(veil_qmp_events(q)->last, "STOP");
  /* quit: QEMU reports SHUTDOWN (host side) and exits */
  assert_int_equal(veil_qmp_execute(q, "quit", NULL, 5000, NULL, &err), 0);
  int st;
  pid_t p = steal_pid(&pid);
  assert_int_equal(waitpid(p, &st, 0), p);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  veil_qmp_drain_events(q);
  assert_true(veil_qmp_events(q)->shutdown);
  assert_false(veil_qmp_events(q)->guest_shutdown);
  fake_tree_free(dir);
}

struct script {
  int fd;
  const char *lines;
};

static void *peer(void *arg)
{
  struct script *s = arg;
  (void)!write(s->fd, s->lines, strlen(s->lines));
  return NULL;
}

/* Open against a scripted peer that writes `lines` then keeps the socket open. */
static int scripted(const char *lines, struct veil_qmp **q, veil_error_t *err, int *peer_fd)
{
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  struct script s = { sv[1], lines };
  pthread_t t;
  pthread_create(&t, NULL, peer, &s);
  pthread_join(t, NULL);
  *peer_fd = sv[1];
  int r = veil_qmp_open_fd(sv[0], 500, q, err);
  if (r < 0)
    close(sv[0]);
  return r;
}

static void test_scripted_guest_panic_event(void **state)
{
  (void)state;
  cleanup_with(veil_qmp_free) struct veil_qmp *q = NULL;
  cleanup_error veil_error_t err = NULL;
  cleanup_close int pfd = -1;
  const char *lines = "{\"QMP\":{\"version\":{}}}\r\n"
                      "{\"event\":\"GUEST_PANICKED\",\"data\":{\"action\":\"pause\"}}\r\n"
                      "{\"return\":{}}\r\n"
                      "{\"event\":\"SHUTDOWN\",\"data\":{\"guest\":true,\"reason\":\"guest-shutdown\"}}\r\n";
  assert_int_equal(scripted(lines, &q, &err, &pfd), 0);
  assert_true(veil_qmp_events(q)->guest_panicked);
  assert_int_equal(veil_qmp_drain_events(q), 0);
  assert_true(veil_qmp_events(q)->guest_shutdown);
}

static void test_scripted_malformed(void **state)
{
  (void)state;
  cleanup_with(veil_qmp_free) struct veil_qmp *q = NULL;
  cleanup_error veil_error_t err = NULL;
  cleanup_close int pfd = -1;
  assert_int_equal(scripted("{\"QMP\":{}}\r\n{\"return\":\r\n", &q, &err, &pfd), -1);
  assert_non_null(strstr(err->msg, "malformed"));
  veil_error_release(&err);
  close(pfd);
  pfd = -1;
  assert_int_equal(scripted("{\"return\":{}}\r\n", &q, &err, &pfd), -1);
  assert_non_null(strstr(err->msg, "not a greeting"));
  veil_error_release(&err);
  close(pfd);
  pfd = -1;
  assert_int_equal(scripted("{\"QMP\":{}}\r\n", &q, &err, &pfd), -1);  /* no reply: timeout */
  assert_non_null(strstr(err->msg, "no reply within"));
}

static void test_scripted_oversized_line(void **state)
{
  (void)state;
  size_t n = VEIL_QMP_LINE_MAX + 16;
  cleanup_free char *big = malloc(n + 1);
  memset(big, 'x', n);
  big[n] = '\0';
  int sv[2];
  assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  cleanup_close int pfd = sv[1];
  pid_t child = fork();
  if (child == 0) {
    (void)!write(pfd, big, n);
    _exit(0);
  }
  cleanup_with(veil_qmp_free) struct veil_qmp *q = NULL;
  cleanup_error veil_error_t err = NULL;
  assert_int_equal(veil_qmp_open_fd(sv[0], 5000, &q, &err), -1);
  assert_non_null(strstr(err->msg, "longer than"));
  close(sv[0]);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_real_qemu_session),
    cmocka_unit_test(test_scripted_guest_panic_event),
    cmocka_unit_test(test_scripted_malformed),
    cmocka_unit_test(test_scripted_oversized_line),
  };
  return cmocka_run_group_tests_name("qmp", tests, NULL, NULL);
}
