#include "hypervisor/libvirt_dl.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stddef.h>

static struct veil_libvirt_api api;
static const char *load_error;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#define RESOLVE(h, name)                                                                       \
  do {                                                                                         \
    *(void **)&api.name = dlsym(h, #name);                                                     \
    if (api.name == NULL) {                                                                    \
      load_error = "libvirt.so.0 lacks " #name;                                                \
      return;                                                                                  \
    }                                                                                          \
  } while (0)

static void load(void)
{
  void *h = dlopen("libvirt.so.0", RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    load_error = "cannot load libvirt.so.0 (install libvirt0, or use \"backend\": \"qemu\")";
    return;
  }
  RESOLVE(h, virConnectOpen);
  RESOLVE(h, virConnectClose);
  RESOLVE(h, virDomainCreateXML);
  RESOLVE(h, virDomainDestroy);
  RESOLVE(h, virDomainDestroyFlags);
  RESOLVE(h, virDomainFree);
  RESOLVE(h, virDomainGetXMLDesc);
  RESOLVE(h, virDomainGetState);
  RESOLVE(h, virDomainShutdownFlags);
  RESOLVE(h, virGetLastErrorMessage);
  RESOLVE(h, virSetErrorFunc);
}

const struct veil_libvirt_api *veil_libvirt_api(veil_error_t *err)
{
  pthread_once(&once, load);
  if (load_error) {
    veil_error_make(err, ENOENT, "libvirt backend: %s", load_error);
    return NULL;
  }
  return &api;
}
