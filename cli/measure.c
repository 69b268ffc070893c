#include <stdio.h>
#include "cli/commands.h"
/* placeholder until the measurement work lands `veil measure` */
int veil_cmd_measure(int argc, char **argv)
{
  (void)argc;
  (void)argv;
  fprintf(stderr, "veil measure: not implemented yet\n");
  return 1;
}
