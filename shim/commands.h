#ifndef VEIL_SHIM_COMMANDS_H
#define VEIL_SHIM_COMMANDS_H
#include "shim/args.h"
/* Each returns the process exit code. */
int shim_cmd_start(const struct shim_args *args);  /* start.c */
int shim_cmd_delete(const struct shim_args *args); /* delete.c */
int shim_cmd_serve(const struct shim_args *args);  /* serve.c */
int shim_cmd_info(void);                           /* info.c: `-info` */
#endif
