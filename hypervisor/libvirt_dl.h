/* libvirt, loaded on first use with dlopen: only sandboxes whose runtime config says
 * `"backend": "libvirt"` pay for it. Linking libvirt into the shim pulled ~60 shared
 * libraries into every shim process (memory and start-up CPU, see tests/bench/shim). */
#ifndef VEIL_HYPERVISOR_LIBVIRT_DL_H
#define VEIL_HYPERVISOR_LIBVIRT_DL_H

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "common/error.h"

struct veil_libvirt_api {
  virConnectPtr (*virConnectOpen)(const char *name);
  int (*virConnectClose)(virConnectPtr conn);
  virDomainPtr (*virDomainCreateXML)(virConnectPtr conn, const char *xml, unsigned int flags);
  int (*virDomainDestroy)(virDomainPtr dom);
  int (*virDomainDestroyFlags)(virDomainPtr dom, unsigned int flags);
  int (*virDomainFree)(virDomainPtr dom);
  char *(*virDomainGetXMLDesc)(virDomainPtr dom, unsigned int flags);
  int (*virDomainGetState)(virDomainPtr dom, int *state, int *reason, unsigned int flags);
  int (*virDomainShutdownFlags)(virDomainPtr dom, unsigned int flags);
  const char *(*virGetLastErrorMessage)(void);
  void (*virSetErrorFunc)(void *userData, virErrorFunc handler);
};

/* The loaded API (thread-safe, loaded once), or NULL with an error naming what to install. */
const struct veil_libvirt_api *veil_libvirt_api(veil_error_t *err);

#endif
