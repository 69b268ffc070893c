/* Test harness: run the real veil-agent binary as a normal service on a unix
 * socket in a temp dir and call it with veil's ttrpc client. */
#ifndef VEIL_TEST_AGENT_HARNESS_H
#define VEIL_TEST_AGENT_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent.pb-c.h"
#include "common/fileutil.h"
#include "health.pb-c.h"
#include "ttrpc/ttrpc.h"

struct agent_fixture {
  char dir[PATH_MAX];
  char sock[PATH_MAX + 32];
  pid_t pid;
  ttrpc_client *client;
};

static inline void fx_msleep(int ms)
{
  struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
    ;
}

/* How to start the agent: `netns` (a /run/netns/NAME path, or NULL) runs it in that
 * network namespace through nsenter; `extra` are more arguments (NULL-terminated, may be
 * NULL). */
struct fx_options {
  const char *runtime;
  const char *netns;
  const char *const *extra;
};

/* Start the agent; returns 0 or -1 (message on stderr). */
static inline int fx_start_opts(struct agent_fixture *f, const struct fx_options *o)
{
  memset(f, 0, sizeof(*f));
  strcpy(f->dir, "/tmp/veil-agent-test-XXXXXX");
  if (!mkdtemp(f->dir))
    return -1;
  snprintf(f->sock, sizeof(f->sock), "%s/agent.sock", f->dir);
  const char *build = getenv("VEIL_BUILD_ROOT");
  char bin[PATH_MAX], listen[PATH_MAX + 64], state[PATH_MAX + 16], rt[PATH_MAX + 16],
      copy[PATH_MAX + 16], net[PATH_MAX + 16];
  snprintf(bin, sizeof(bin), "%s/agent/veil-agent", build ? build : ".");
  snprintf(listen, sizeof(listen), "unix://%s", f->sock);
  snprintf(state, sizeof(state), "%s/state", f->dir);
  snprintf(rt, sizeof(rt), "%s/rt", f->dir);
  snprintf(copy, sizeof(copy), "%s/copy", f->dir);
  mkdir(copy, 0700);
  const char *argv[32];
  size_t n = 0;
  if (o->netns) {
    snprintf(net, sizeof(net), "--net=%s", o->netns);
    argv[n++] = "nsenter";
    argv[n++] = net;
    argv[n++] = "--";
  }
  const char *fixed[] = { bin, "--listen", listen, "--state-dir", state, "--runtime-root", rt,
                          "--copy-root", copy, "--runtime", o->runtime, "--log-level", "debug" };
  for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
    argv[n++] = fixed[i];
  for (size_t i = 0; o->extra && o->extra[i] && n < 31; i++)
    argv[n++] = o->extra[i];
  argv[n] = NULL;
  f->pid = fork();
  if (f->pid == 0) {
    execvp(argv[0], (char *const *)argv);
    _exit(127);
  }
  for (int i = 0; i < 500; i++) {
    veil_error_t err = NULL;
    int fd = ttrpc_dial(f->sock, 1000, &err);
    if (fd >= 0) {
      f->client = ttrpc_client_new(fd, &err);
      if (f->client)
        return 0;
    }
    veil_error_release(&err);
    int st;
    if (waitpid(f->pid, &st, WNOHANG) == f->pid) {
      fprintf(stderr, "veil-agent exited early (status %d)\n", st);
      f->pid = 0;
      return -1;
    }
    fx_msleep(20);
  }
  fprintf(stderr, "veil-agent did not listen on %s\n", f->sock);
  return -1;
}

/* Start the agent with an OCI runtime; returns 0 or -1 (message on stderr). */
static inline int fx_start_runtime(struct agent_fixture *f, const char *runtime)
{
  struct fx_options o = { .runtime = runtime };
  return fx_start_opts(f, &o);
}

static inline int fx_start(struct agent_fixture *f)
{
  return fx_start_runtime(f, "/usr/bin/crun");
}

/* Stop the agent with SIGTERM; returns 0 when it shut down cleanly (exit 0: no
 * sanitizer report, no crash), -1 otherwise. */
static inline int fx_stop(struct agent_fixture *f)
{
  int rc = 0;
  if (f->client)
    ttrpc_client_free(f->client);
  f->client = NULL;
  if (f->pid > 0) {
    kill(f->pid, SIGTERM);
    int st = 0;
    pid_t got = 0;
    for (int i = 0; i < 500 && (got = waitpid(f->pid, &st, WNOHANG)) == 0; i++)
      fx_msleep(20);
    if (got != f->pid) {
      kill(f->pid, SIGKILL);
      waitpid(f->pid, &st, 0);
      rc = -1;
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      fprintf(stderr, "veil-agent exited with status 0x%x\n", st);
      rc = -1;
    }
  }
  f->pid = 0;
  veil_error_t err = NULL;
  veil_remove_tree(f->dir, &err);
  veil_error_release(&err);
  return rc;
}

/* Call service/method with a packed message; returns the gRPC code (0 = OK). */
static inline int fx_call_raw(struct agent_fixture *f, const char *service, const char *method,
                              const uint8_t *req, size_t len, uint8_t **resp, size_t *resp_len,
                              char **msg)
{
  veil_error_t err = NULL;
  uint8_t *r = NULL;
  size_t rl = 0;
  int rc = ttrpc_client_call(f->client, service, method, req, len, 30ll * 1000000000, NULL, 0, &r,
                             &rl, &err);
  if (rc < 0) {
    int code = veil_error_grpc_code(err);
    if (msg)
      *msg = strdup(err->msg ? err->msg : "");
    veil_error_release(&err);
    free(r);
    return code;
  }
  if (resp) {
    *resp = r;
    *resp_len = rl;
  } else {
    free(r);
  }
  return 0;
}

static inline int fx_call(struct agent_fixture *f, const char *method, const ProtobufCMessage *m,
                          uint8_t **resp, size_t *resp_len)
{
  size_t n = m ? protobuf_c_message_get_packed_size(m) : 0;
  uint8_t *buf = malloc(n + 1);
  if (m)
    protobuf_c_message_pack(m, buf);
  char *msg = NULL;
  int code = fx_call_raw(f, "grpc.AgentService", method, buf, n, resp, resp_len, &msg);
  if (code != 0)
    fprintf(stderr, "  %s -> code %d: %s\n", method, code, msg ? msg : "");
  free(msg);
  free(buf);
  return code;
}

#endif
