#ifndef VEIL_CLI_COMMANDS_H
#define VEIL_CLI_COMMANDS_H
/* Each returns the process exit code; argv[0] is the subcommand name. */
int veil_cmd_check(int argc, char **argv);   /* cli/check.c (hypervisor issue) */
int veil_cmd_measure(int argc, char **argv); /* cli/measure.c (measurement issue) */
#endif
