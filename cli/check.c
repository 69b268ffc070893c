#include <stdio.h>
#include "cli/commands.h"
/* placeholder until the hypervisor work lands `veil check` */
int veil_cmd_check(int argc, char **argv)
{
  (void)argc;
  (void)argv;
  fprintf(stderr, "veil check: not implemented yet\n");
  return 1;
}
