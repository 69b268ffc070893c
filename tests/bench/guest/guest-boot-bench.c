/* Benchmark: dev guest boot under QEMU TCG, from QEMU launch to the agent answering Check
 * on the virtio-serial channel (veil_agent_dial_ready), median of N runs, for the PVH
 * vmlinux that veil's dev profile boots and, as the peer, Debian's bzImage (vmlinuz) with the
 * same initrd and kernel command line. Also prints the image sizes.
 *
 *   guest-boot-bench <vmlinux> <vmlinuz> <initrd.img> [runs=5]
 * Environment: VEIL_BENCH_KERNEL_PARAMS (replaces the command line), VEIL_BENCH_MACHINE
 * (q35, pc, microvm...), VEIL_BENCH_ONLY=vmlinux|vmlinuz. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "guest_qemu.h"
#include "agent_client/agent_client.h"

#define MAX_RUNS 20

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static pid_t bench_pid = -1;
static bool alive(void *user)
{
  (void)user;
  return waitpid(bench_pid, NULL, WNOHANG) == 0;
}

/* One boot: seconds from launch to agent ready, or -1. */
static double boot_once(const char *dir, const char *kernel, const char *initrd)
{
  char sock[512], shared[512], console[512];
  snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
  snprintf(shared, sizeof(shared), "%s/shared", dir);
  snprintf(console, sizeof(console), "%s/console.log", dir);
  unlink(sock);
  struct guest_qemu q = {
    .kernel = kernel,
    .initrd = initrd,
    .agent_socket = sock,
    .shared_dir = shared,
    .console_path = console,
    .machine = getenv("VEIL_BENCH_MACHINE"),
    .kernel_params = getenv("VEIL_BENCH_KERNEL_PARAMS"),
  };
  cleanup_error veil_error_t err = NULL;
  double start = now_s();
  bench_pid = guest_qemu_start(&q, &err);
  if (bench_pid < 0) {
    fprintf(stderr, "start QEMU: %s\n", err->msg);
    return -1;
  }
  cleanup_pid pid_t pid = bench_pid; /* SIGKILL + reap when this boot is measured */
  (void)pid;
  char address[600];
  snprintf(address, sizeof(address), "unix://%s", sock);
  veil_agent *a = veil_agent_dial_ready(address, 120000, alive, NULL, &err);
  double t = now_s() - start;
  if (a == NULL) {
    fprintf(stderr, "boot %s: %s (console: %s)\n", kernel, err->msg, console);
    return -1;
  }
  veil_agent_free(a);
  return t;
}

static double bench(const char *dir, const char *label, const char *kernel, const char *initrd,
                    int runs)
{
  double t[MAX_RUNS];
  for (int i = 0; i < runs; i++) {
    t[i] = boot_once(dir, kernel, initrd);
    if (t[i] < 0)
      return -1;
  }
  printf("%-34s", label);
  for (int i = 0; i < runs; i++)
    printf(" %.2f", t[i]);
  qsort(t, (size_t)runs, sizeof(t[0]), cmp_double);
  double median = runs % 2 ? t[runs / 2] : (t[runs / 2 - 1] + t[runs / 2]) / 2;
  printf("  -> median %.2f s\n", median);
  return median;
}

static long long file_size(const char *path)
{
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

int main(int argc, char **argv)
{
  if (argc < 4 || argc > 5) {
    fprintf(stderr, "usage: guest-boot-bench <vmlinux> <vmlinuz> <initrd.img> [runs]\n");
    return 2;
  }
  int runs = argc == 5 ? atoi(argv[4]) : 5;
  if (runs < 1 || runs > MAX_RUNS) {
    fprintf(stderr, "runs must be 1..%d\n", MAX_RUNS);
    return 2;
  }
  const char *vmlinux = argv[1], *vmlinuz = argv[2], *initrd = argv[3];
  const char *only = getenv("VEIL_BENCH_ONLY");
  char dir[] = "/tmp/veil-guest-bench.XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  char shared[64];
  snprintf(shared, sizeof(shared), "%s/shared", dir);
  mkdir(shared, 0755);

  printf("guest image: vmlinuz %lld bytes, vmlinux %lld bytes, initrd.img %lld bytes\n",
         file_size(vmlinuz), file_size(vmlinux), file_size(initrd));
  printf("kernel params: %s\n", getenv("VEIL_BENCH_KERNEL_PARAMS") ? getenv("VEIL_BENCH_KERNEL_PARAMS")
                                                                   : GUEST_KERNEL_PARAMS);
  printf("boot to agent ready, QEMU TCG %s, %d runs (s):\n",
         getenv("VEIL_BENCH_MACHINE") ? getenv("VEIL_BENCH_MACHINE") : "q35", runs);
  double veil = 0, peer = 0;
  int rc = 0;
  if (!only || strcmp(only, "vmlinux") == 0)
    if ((veil = bench(dir, "veil (vmlinux, PVH entry)", vmlinux, initrd, runs)) < 0)
      rc = 1;
  if (!only || strcmp(only, "vmlinuz") == 0)
    if ((peer = bench(dir, "peer (vmlinuz, bzImage via SeaBIOS)", vmlinuz, initrd, runs)) < 0)
      rc = 1;
  if (rc == 0 && veil > 0 && peer > 0)
    printf("ratio veil/peer: %.2f (goal: veil <= 4 s)\n", veil / peer);
  char cmd[64];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "warning: could not remove %s\n", dir);
  return rc;
}
