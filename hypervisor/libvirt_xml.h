/* libvirt domain XML for a VM spec: a pure function, like the QEMU argv (golden-tested in
 * tests/golden/libvirt-*.xml). */
#ifndef VEIL_HYPERVISOR_LIBVIRT_XML_H
#define VEIL_HYPERVISOR_LIBVIRT_XML_H

#include "common/error.h"
#include "hypervisor/qemu_argv.h"

/* Same inputs as the QEMU argv. A VHOST_VSOCK channel with cid 0 lets libvirt pick the CID
 * (<cid auto='yes'/>); a HYBRID_VSOCK channel becomes a shared memfd <memoryBacking> and a
 * <qemu:commandline> vhost-user-vsock device (libvirt 9.0's <vsock> cannot express it);
 * plan->sandbox is ignored (libvirt's qemu.conf seccomp_sandbox rules). */
int veil_libvirt_domain_xml(const struct veil_qemu_plan *plan, char **xml, veil_error_t *err);

#endif
