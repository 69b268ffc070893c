/* podnet internals: running work inside a network namespace, libnl error mapping, formatting. */
#ifndef VEIL_PODNET_INTERNAL_H
#define VEIL_PODNET_INTERNAL_H

#include <netlink/netlink.h>
#include <stdbool.h>

#include "common/error.h"

/* Work run inside the target netns; sk is a NETLINK_ROUTE socket opened there. */
typedef int (*podnet_ns_fn)(struct nl_sock *sk, void *arg, veil_error_t *err);

/* Run fn on a new thread that has entered netns_path (setns), then exits; the calling thread's
 * netns is never changed. A missing path or one that is not a network namespace is an error
 * naming it. */
int podnet_in_netns(const char *netns_path, podnet_ns_fn fn, void *arg, veil_error_t *err);
/* Same, in a fresh netns of the thread's own (unshare): gone when the thread ends. */
int podnet_in_new_netns(podnet_ns_fn fn, void *arg, veil_error_t *err);

/* errno for a (negative) libnl error code. */
int podnet_nl_errno(int nlerr);
/* veil_error_make with the libnl error text appended: "<what>: <nl_geterror>". */
int podnet_nl_error(veil_error_t *err, int nlerr, const char *fmt, ...) VEIL_PRINTF(3, 4);

struct podnet_scan;
struct podnet_attachment;
/* podnet_attach's work in the netns sk belongs to (the probe runs it in a throwaway netns);
 * closes the tap fds. *tap_ok is set once a tap was created. */
int podnet_attach_here(struct nl_sock *sk, const char *netns_label, const struct podnet_scan *scan,
                       struct podnet_attachment *att, bool *tap_ok, veil_error_t *err);

/* "aa:bb:cc:dd:ee:ff" of 6 bytes. */
void podnet_mac_str(const unsigned char *b, char out[18]);

#endif
