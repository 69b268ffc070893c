/* Built when libvirt is not found: the libvirt backend reports that clearly. */
#include <errno.h>

#include "hypervisor/vm_internal.h"

int veil_vm_libvirt_start(const struct veil_vm_spec *spec, struct veil_vm *vm, veil_error_t *err)
{
  (void)spec;
  (void)vm;
  return veil_error_make(err, ENOTSUP, "backend libvirt: veil was built without libvirt "
                         "(install libvirt-dev and rebuild, or set backend \"qemu\")");
}
