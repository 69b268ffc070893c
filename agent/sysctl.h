/* Pod sysctls of the net.* tree. containerd 2.x puts net.ipv4.ip_unprivileged_port_start and
 * net.ipv4.ping_group_range in every CRI container's spec, and Kubernetes pods may add their
 * own. A veil container has no network namespace of its own: it runs in the guest's, which is
 * the pod's. An OCI runtime refuses net.* sysctls for such a container, so the agent writes them
 * itself into the guest's /proc/sys/net and removes them from config.json (kata-agent writes
 * every sysctl from the container's init, in the same namespace). */
#ifndef VEIL_AGENT_SYSCTL_H
#define VEIL_AGENT_SYSCTL_H

#include <jansson.h>
#include <stdbool.h>

#include "common/error.h"

#define AGENT_SYSCTL_KEY_MAX 255
#define AGENT_SYSCTL_VALUE_MAX 4096

/* A sysctl name in dotted (net.ipv4.ping_group_range) or slashed (net/ipv4/conf/eth0.1/rp_filter)
 * form: [A-Za-z0-9_-] components (dots allowed inside components in the slashed form), none
 * empty, "." or "..". */
bool agent_sysctl_key_valid(const char *key);
/* The key's path under /proc/sys ("net/ipv4/ping_group_range"); false if the key is invalid. */
bool agent_sysctl_path(const char *key, char *out, size_t size);
/* Write every net.* entry of config's linux.sysctl under proc_sys (normally "/proc/sys") and
 * remove it from config. Fails (InvalidArgument) on a bad key or value, naming it; entries
 * outside net.* are left for the OCI runtime. */
int agent_apply_net_sysctls(json_t *config, const char *proc_sys, veil_error_t *err);

#endif
