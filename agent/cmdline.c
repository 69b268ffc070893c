/* Option parsing for veil-agent (cmdline.h). */
#include "agent/cmdline.h"

#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static int set(char **dst, const char *v, size_t n, veil_error_t *err)
{
  char *s = strndup(v, n);
  if (!s)
    return veil_error_make(err, ENOMEM, "out of memory");
  free(*dst);
  *dst = s;
  return 0;
}

int agent_options_from_cmdline(struct agent_options *o, const char *cmdline, veil_error_t *err)
{
  static const struct { const char *key; size_t off; } keys[] = {
    { "agent.server_addr=", offsetof(struct agent_options, server_addr) },
    { "agent.log=", offsetof(struct agent_options, log_level) },
    { "agent.runtime=", offsetof(struct agent_options, runtime) },
    { "agent.channel=", offsetof(struct agent_options, channel) },
  };
  for (const char *p = cmdline; *p;) {
    while (*p == ' ' || *p == '\n' || *p == '\t')
      p++;
    size_t n = strcspn(p, " \n\t");
    for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
      size_t kl = strlen(keys[k].key);
      if (n > kl && strncmp(p, keys[k].key, kl) == 0 &&
          set((char **)((char *)o + keys[k].off), p + kl, n - kl, err) < 0)
        return -1;
    }
    p += n;
  }
  return 0;
}

int agent_options_from_argv(struct agent_options *o, int argc, char **argv, veil_error_t *err)
{
  static const struct option longopts[] = {
    { "listen", required_argument, NULL, 'l' },
    { "runtime", required_argument, NULL, 'r' },
    { "state-dir", required_argument, NULL, 's' },
    { "runtime-root", required_argument, NULL, 'R' },
    { "copy-root", required_argument, NULL, 'c' },
    { "resolv-conf", required_argument, NULL, 'D' },
    { "hostname-file", required_argument, NULL, 'H' },
    { "sandbox-dir", required_argument, NULL, 'S' },
    { "log-level", required_argument, NULL, 'L' },
    { "channel", required_argument, NULL, 'C' },
    { "no-pivot", no_argument, NULL, 'n' },
    { NULL, 0, NULL, 0 },
  };
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    char **dst = NULL;
    switch (c) {
    case 'l': dst = &o->server_addr; break;
    case 'r': dst = &o->runtime; break;
    case 's': dst = &o->state_dir; break;
    case 'R': dst = &o->runtime_root; break;
    case 'c': dst = &o->copy_root; break;
    case 'D': dst = &o->resolv_conf; break;
    case 'H': dst = &o->hostname_file; break;
    case 'S': dst = &o->sandbox_dir; break;
    case 'L': dst = &o->log_level; break;
    case 'C': dst = &o->channel; break;
    case 'n': o->no_pivot = true; continue;
    default:
      return veil_error_make(err, EINVAL,
                             "usage: veil-agent [--listen unix:///path|vsock://-1:1024] "
                             "[--runtime PATH] [--state-dir DIR] [--runtime-root DIR] "
                             "[--copy-root DIR] [--resolv-conf PATH] [--hostname-file PATH] [--sandbox-dir DIR] "
                             "[--log-level LEVEL] [--channel NAME] [--no-pivot]");
    }
    if (set(dst, optarg, strlen(optarg), err) < 0)
      return -1;
  }
  if (optind < argc)
    return veil_error_make(err, EINVAL, "unexpected argument `%s`", argv[optind]);
  return 0;
}

void agent_options_free(struct agent_options *o)
{
  free(o->server_addr);
  free(o->channel);
  free(o->log_level);
  free(o->runtime);
  free(o->state_dir);
  free(o->runtime_root);
  free(o->copy_root);
  free(o->resolv_conf);
  free(o->hostname_file);
  free(o->sandbox_dir);
}
