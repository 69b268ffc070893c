/* `veil`: operator CLI over hypervisor/ — one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static void usage(FILE *f)
{
  fprintf(f, "usage: veil <command> [options]\n"
             "  check     probe this host for KVM, vsock and TEE support (--json)\n"
             "  measure   print expected launch measurements (SEV, SEV-ES, SEV-SNP, TDX)\n"
             "  version   print the version\n");
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "check") == 0)
    return veil_cmd_check(argc - 1, argv + 1);
  if (strcmp(cmd, "measure") == 0)
    return veil_cmd_measure(argc - 1, argv + 1);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
    printf("veil %s\n", VEIL_VERSION);
    return 0;
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "veil: unknown command `%s`\n", cmd);
  usage(stderr);
  return 2;
}
