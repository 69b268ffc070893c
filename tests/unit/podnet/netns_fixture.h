/* Test network namespaces for the podnet tests: created with `ip netns add` under unique names,
 * configured with ip(8)/tc(8) through `nsenter --net=`, always deleted in the teardown (also
 * when the test failed). A "pod" netns holds eth0 (the CNI veth); its peer lives in a "host"
 * netns on a bridge cni0 with the gateway address, as CNI's bridge plugin sets them up. */
#ifndef VEIL_TESTS_PODNET_NETNS_FIXTURE_H
#define VEIL_TESTS_PODNET_NETNS_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define POD_MAC "02:11:22:33:44:55"
#define POD_MTU 1400

struct fixture {
  char pod[64], host[64], spare[64];  /* netns names */
  char pod_path[128], host_path[128], spare_path[128];
};

static unsigned fixture_seq;

/* Run a shell command; its exit status. Output goes to the test log. */
static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Run a command and capture (at most n-1 bytes of) its stdout. */
static int sh_out(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh_out(char *out, size_t n, const char *fmt, ...)
{
  char cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof(cmd), fmt, ap);
  va_end(ap);
  FILE *p = popen(cmd, "r");
  if (p == NULL)
    return -1;
  size_t len = fread(out, 1, n - 1, p);
  out[len] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void fixture_names(struct fixture *f)
{
  unsigned seq = __atomic_add_fetch(&fixture_seq, 1, __ATOMIC_SEQ_CST);
  snprintf(f->pod, sizeof(f->pod), "veil-pn-%d-%u-pod", (int)getpid(), seq);
  snprintf(f->host, sizeof(f->host), "veil-pn-%d-%u-host", (int)getpid(), seq);
  snprintf(f->spare, sizeof(f->spare), "veil-pn-%d-%u-lv", (int)getpid(), seq);
  snprintf(f->pod_path, sizeof(f->pod_path), "/run/netns/%s", f->pod);
  snprintf(f->host_path, sizeof(f->host_path), "/run/netns/%s", f->host);
  snprintf(f->spare_path, sizeof(f->spare_path), "/run/netns/%s", f->spare);
}

/* A veth `name` in the pod netns, its peer `peer` on cni0 in the host netns. */
static int add_pod_veth(struct fixture *f, const char *name, const char *peer)
{
  return sh("nsenter --net=%s ip link add %s type veth peer name %s netns %s && "
            "nsenter --net=%s ip link set %s master cni0 up",
            f->host_path, peer, name, f->pod, f->host_path, peer);
}

/* Wait (bounded) until `ip ARGS` in netns prints something containing `what`. */
static bool wait_for(const char *ns_path, const char *args, const char *what)
{
  char out[8192];
  for (int i = 0; i < 100; i++) {
    if (sh_out(out, sizeof(out), "nsenter --net=%s %s 2>&1", ns_path, args) == 0 && strstr(out, what))
      return true;
    poll(NULL, 0, 50);
  }
  return false;
}

/* The pod netns as CNI's bridge plugin leaves it (with host-local IPAM, dual stack): eth0 with
 * 10.88.0.2/16 and fd88::2/64, default routes via the bridge, plus what Kata keeps and drops:
 * a route via the gateway and an onlink one with an MTU (kept), a permanent neighbour (kept), the gateway REACHABLE (kept),
 * a STALE neighbour (dropped); the connected routes are proto kernel (dropped). */
static int fixture_cni(struct fixture *f)
{
  fixture_names(f);
  if (sh("ip netns add %s && ip netns add %s", f->pod, f->host) != 0)
    return -1;
  const char *H = f->host_path, *P = f->pod_path;
  if (sh("nsenter --net=%s sh -ec 'ip link set lo up; ip link add cni0 type bridge; "
         "ip link set cni0 address 02:00:00:00:00:01; ip addr add 10.88.0.1/16 dev cni0; "
         "ip -6 addr add fd88::1/64 dev cni0 nodad; ip link set cni0 up'", H) != 0)
    return -1;
  if (add_pod_veth(f, "eth0", "vethh0") != 0)
    return -1;
  if (sh("nsenter --net=%s sh -ec 'ip link set lo up; ip link set eth0 address " POD_MAC " mtu %d; "
         "ip addr add 10.88.0.2/16 dev eth0; ip -6 addr add fd88::2/64 dev eth0 nodad; "
         "ip link set eth0 up; ip route add default via 10.88.0.1 dev eth0; "
         "ip route add 192.168.50.0/24 via 10.88.0.1 dev eth0 src 10.88.0.2; "
         "ip route add 172.16.0.0/16 via 10.99.9.9 dev eth0 onlink mtu 1300; "
         "ip -6 route add default via fd88::1 dev eth0; "
         "sysctl -qw net.ipv4.neigh.eth0.base_reachable_time_ms=3600000; "
         "ip neigh add 10.88.0.99 lladdr 02:00:00:00:00:99 dev eth0 nud permanent; "
         "ip neigh replace 10.88.0.1 lladdr 02:00:00:00:00:01 dev eth0 nud reachable; "
         "ip neigh add 10.88.0.50 lladdr 02:00:00:00:00:50 dev eth0 nud stale'", P, POD_MTU) != 0)
    return -1;
  /* eth0's link-local address appears once the carrier is up (linkwatch is asynchronous) */
  if (!wait_for(P, "ip -6 addr show dev eth0 scope link", "fe80::"))
    return -1;
  return 0;
}

static void fixture_remove(struct fixture *f)
{
  if (f->pod[0])
    sh("ip netns del %s 2>/dev/null", f->pod);
  if (f->host[0])
    sh("ip netns del %s 2>/dev/null", f->host);
  if (f->spare[0])
    sh("ip netns del %s 2>/dev/null", f->spare);
}

/* Run fn(arg) on a thread inside netns `path` (e.g. to open a socket that stays in it). */
struct in_ns_job {
  const char *path;
  int (*fn)(void *);
  void *arg;
  int rc;
};

static void *in_ns_thread(void *p)
{
  struct in_ns_job *j = p;
  j->rc = -1;
  int fd = open(j->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return NULL;
  if (setns(fd, CLONE_NEWNET) == 0)
    j->rc = j->fn(j->arg);
  close(fd);
  return NULL;
}

static int in_ns(const char *path, int (*fn)(void *), void *arg)
{
  struct in_ns_job j = { path, fn, arg, -1 };
  pthread_t t;
  if (pthread_create(&t, NULL, in_ns_thread, &j) != 0)
    return -1;
  pthread_join(t, NULL);
  return j.rc;
}

#endif
