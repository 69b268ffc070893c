/* The virtio-serial agent channel: find the port by name through
 * /sys/class/virtio-ports/<port>/name, open /dev/<port> (creating the node from
 * .../dev if /dev lacks it) and serve it as one ttrpc connection. When the host
 * side disconnects the port reads EOF at once: the connection closes, we wait a
 * little and reopen (ttrpc_server_on_connection_closed). */
#ifndef VEIL_AGENT_CHANNEL_H
#define VEIL_AGENT_CHANNEL_H

#include "common/error.h"
#include "ttrpc/ttrpc.h"

struct agent_channel;

/* NULL with *err when the port does not exist. */
struct agent_channel *agent_channel_open(ttrpc_server *s, const char *sys_dir, const char *dev_dir,
                                         const char *name, veil_error_t *err);
void agent_channel_free(struct agent_channel *ch);

/* Path of the port's device for `name`, or NULL (tests use a fake sysfs). */
char *agent_channel_find(const char *sys_dir, const char *dev_dir, const char *name,
                         veil_error_t *err);

#endif
