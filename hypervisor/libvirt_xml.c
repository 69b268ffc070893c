#include "hypervisor/libvirt_xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"

/* Write s with XML escaping. */
static void esc(FILE *f, const char *s)
{
  for (; s && *s; s++) {
    switch (*s) {
    case '&': fputs("&amp;", f); break;
    case '<': fputs("&lt;", f); break;
    case '>': fputs("&gt;", f); break;
    case '\'': fputs("&apos;", f); break;
    case '"': fputs("&quot;", f); break;
    default: fputc(*s, f);
    }
  }
}

static void elem(FILE *f, const char *indent, const char *name, const char *value)
{
  fprintf(f, "%s<%s>", indent, name);
  esc(f, value);
  fprintf(f, "</%s>\n", name);
}

/* virtio devices of a TEE guest must use the IOMMU (bounce buffers in shared memory) */
static const char *iommu_attr(const struct veil_config *c)
{
  return veil_profile_is_tee(c->profile) ? " iommu='on'" : "";
}

static void os_section(FILE *f, const struct veil_qemu_plan *p)
{
  const struct veil_config *c = p->spec->config;
  bool s390 = c->profile == VEIL_PROFILE_SE;
  fprintf(f, "  <os>\n    <type arch='%s' machine='", s390 ? "s390x" : "x86_64");
  esc(f, c->machine_type);
  fprintf(f, "'>hvm</type>\n");
  if (p->firmware && p->firmware[0]) {
    if (p->fw_mapping == VEIL_FW_FLASH && c->profile != VEIL_PROFILE_DEV)
      fprintf(f, "    <loader readonly='yes' type='pflash' stateless='yes'>");
    else
      fprintf(f, "    <loader readonly='yes' type='rom'>");
    esc(f, p->firmware);
    fprintf(f, "</loader>\n");
  }
  elem(f, "    ", "kernel", c->kernel);
  if (!s390) {
    if (c->initrd[0])
      elem(f, "    ", "initrd", c->initrd);
    cleanup_free char *cmdline = veil_vm_cmdline(p->spec);
    elem(f, "    ", "cmdline", cmdline ? cmdline : "");
  }
  fprintf(f, "  </os>\n");
}

static void cpu_section(FILE *f, const struct veil_config *c)
{
  const char *model = c->vcpu_type[0] ? c->vcpu_type
                    : c->profile == VEIL_PROFILE_SNP ? "EPYC-v4"
                    : (veil_profile_is_tee(c->profile) || strcmp(c->accel, "kvm") == 0) ? "host" : NULL;
  if (model == NULL)
    return;
  if (strncmp(model, "host", 4) == 0) {
    fprintf(f, "  <cpu mode='host-passthrough'%s\n", strstr(model, "pmu=off") ? ">\n    <feature policy='disable' name='pmu'/>\n  </cpu>" : "/>");
    return;
  }
  fprintf(f, "  <cpu mode='custom' match='exact'>\n    <model fallback='forbid'>");
  esc(f, model);
  fprintf(f, "</model>\n  </cpu>\n");
}

/* bound: the initdata digest as the TEE binds it (veil_vm_initdata_binding), or NULL */
static void launch_security(FILE *f, const struct veil_qemu_plan *p, const char *bound)
{
  const struct veil_vm_spec *s = p->spec;
  const struct veil_config *c = s->config;
  switch (c->profile) {
  case VEIL_PROFILE_DEV:
    return;
  case VEIL_PROFILE_SEV:
  case VEIL_PROFILE_SEV_ES:
    fprintf(f, "  <launchSecurity type='sev' kernelHashes='%s'>\n", c->kernel_hashes ? "yes" : "no");
    fprintf(f, "    <cbitpos>%u</cbitpos>\n    <reducedPhysBits>%u</reducedPhysBits>\n", p->cbitpos,
            p->reduced_phys_bits);
    fprintf(f, "    <policy>0x%04llx</policy>\n  </launchSecurity>\n", c->policy);
    return;
  case VEIL_PROFILE_SNP: {
    fprintf(f, "  <launchSecurity type='sev-snp' kernelHashes='%s'%s>\n", c->kernel_hashes ? "yes" : "no",
            (p->id_auth_b64 && c->author_key_enabled) ? " authorKey='yes'" : "");
    fprintf(f, "    <cbitpos>%u</cbitpos>\n    <reducedPhysBits>%u</reducedPhysBits>\n", p->cbitpos,
            p->reduced_phys_bits);
    fprintf(f, "    <policy>0x%08llx</policy>\n", c->policy);
    if (p->id_block_b64)
      elem(f, "    ", "idBlock", p->id_block_b64);
    if (p->id_auth_b64)
      elem(f, "    ", "idAuth", p->id_auth_b64);
    if (bound)
      elem(f, "    ", "hostData", bound);
    fprintf(f, "  </launchSecurity>\n");
    return;
  }
  case VEIL_PROFILE_TDX: {
    fprintf(f, "  <launchSecurity type='tdx'>\n");
    if (bound)
      elem(f, "    ", "mrConfigId", bound);
    if (strncmp(c->quote_generation_socket, "unix:", 5) == 0) {
      fprintf(f, "    <quoteGenerationService path='");
      esc(f, c->quote_generation_socket + 5);
      fprintf(f, "'/>\n");
    } else if (c->quote_generation_socket[0]) {
      fprintf(f, "    <quoteGenerationService/>\n"); /* libvirt: vsock QGS is its default (CID 2) */
    }
    fprintf(f, "  </launchSecurity>\n");
    return;
  }
  case VEIL_PROFILE_SE:
    fprintf(f, "  <launchSecurity type='s390-pv'/>\n");
    return;
  }
}

static void devices(FILE *f, const struct veil_qemu_plan *p)
{
  const struct veil_vm_spec *s = p->spec;
  const struct veil_config *c = s->config;
  const char *io = iommu_attr(c);
  bool s390 = c->profile == VEIL_PROFILE_SE;
  fprintf(f, "  <devices>\n");
  elem(f, "    ", "emulator", c->qemu_path);
  fprintf(f, "    <%s type='file'>\n      <source path='", s390 ? "console" : "serial");
  esc(f, p->run_dir);
  fprintf(f, "/console.log'/>\n      <target %s/>\n    </%s>\n", s390 ? "type='sclp'" : "port='0'",
          s390 ? "console" : "serial");
  switch (p->channel->kind) {
  case VEIL_CHANNEL_VHOST_VSOCK:
    fprintf(f, "    <vsock model='virtio'>\n");
    if (p->channel->cid)
      fprintf(f, "      <cid auto='no' address='%u'/>\n", p->channel->cid);
    else
      fprintf(f, "      <cid auto='yes'/>\n");
    if (io[0])
      fprintf(f, "      <driver%s/>\n", io);
    fprintf(f, "    </vsock>\n");
    break;
  case VEIL_CHANNEL_HYBRID_VSOCK:
    break;  /* libvirt 9.0's <vsock> has no vhost-user backend: see qemu_commandline() */
  case VEIL_CHANNEL_VIRTIO_SERIAL:
    if (io[0])
      fprintf(f, "    <controller type='virtio-serial' index='0'>\n      <driver%s/>\n    </controller>\n", io);
    else
      fprintf(f, "    <controller type='virtio-serial' index='0'/>\n");
    fprintf(f, "    <channel type='unix'>\n      <source mode='bind' path='");
    esc(f, p->channel->unix_path);
    fprintf(f, "'/>\n      <target type='virtio' name='" VEIL_AGENT_CHANNEL_NAME "'/>\n    </channel>\n");
    break;
  }
  for (size_t i = 0; i < s->n_shares; i++) {
    /* accessmode squash = QEMU security_model=none */
    fprintf(f, "    <filesystem type='mount' accessmode='squash' multidevs='remap'>\n");
    if (io[0])
      fprintf(f, "      <driver%s/>\n", io);
    fprintf(f, "      <source dir='");
    esc(f, s->shares[i].host_path);
    fprintf(f, "'/>\n      <target dir='");
    esc(f, s->shares[i].tag);
    fprintf(f, "'/>\n%s    </filesystem>\n", s->shares[i].readonly ? "      <readonly/>\n" : "");
  }
  for (size_t i = 0; i < s->n_disks; i++) {
    const struct veil_vm_disk *d = &s->disks[i];
    fprintf(f, "    <disk type='file' device='disk'>\n      <driver name='qemu' type='raw'%s/>\n", io);
    fprintf(f, "      <source file='");
    esc(f, d->path);
    fprintf(f, "'/>\n      <target dev='vd%c' bus='virtio'/>\n", (char)('a' + (i % 26)));
    if (d->readonly)
      fprintf(f, "      <readonly/>\n");
    if (d->serial)
      elem(f, "      ", "serial", d->serial);
    fprintf(f, "    </disk>\n");
  }
  for (size_t i = 0; i < s->n_nics; i++) {
    /* libvirt 9.0 cannot take a tap fd for a QEMU domain: it creates the tap (in its own netns)
     * under the name we give, and podnet_adopt moves it into the pod netns after the start */
    const struct veil_vm_nic *n = &s->nics[i];
    fprintf(f, "    <interface type='ethernet'>\n      <mac address='%s'/>\n      <target dev='", n->mac);
    esc(f, n->host_tap);
    fprintf(f, "'/>\n      <model type='virtio'/>\n");
    if (io[0])
      fprintf(f, "      <driver%s/>\n", io);
    if (n->mtu)
      fprintf(f, "      <mtu size='%u'/>\n", n->mtu);
    if (!s390)
      fprintf(f, "      <rom enabled='no'/>\n");
    fprintf(f, "    </interface>\n");
  }
  fprintf(f, "    <rng model='virtio'>\n      <backend model='random'>/dev/urandom</backend>\n");
  if (io[0])
    fprintf(f, "      <driver%s/>\n", io);
  fprintf(f, "    </rng>\n    <memballoon model='none'/>\n  </devices>\n");
}

static bool hybrid(const struct veil_qemu_plan *p)
{
  return p->channel->kind == VEIL_CHANNEL_HYBRID_VSOCK;
}

/* RAM from a shared memfd (hybrid vsock: the vhost-user backend maps it); SEV pins its
 * encrypted pages. */
static void memory_backing(FILE *f, const struct veil_qemu_plan *p)
{
  const struct veil_config *c = p->spec->config;
  bool locked = c->profile == VEIL_PROFILE_SEV || c->profile == VEIL_PROFILE_SEV_ES;
  if (!locked && !hybrid(p))
    return;
  fprintf(f, "  <memoryBacking>\n");
  if (hybrid(p))
    fprintf(f, "    <source type='memfd'/>\n    <access mode='shared'/>\n");
  if (locked)
    fprintf(f, "    <locked/>\n");
  fprintf(f, "  </memoryBacking>\n");
}

/* The hybrid-vsock device, passed through to QEMU's command line (libvirt taints the domain
 * "custom-argv"): a vhost-user chardev to the helper's socket and vhost-user-vsock on it. */
static void qemu_commandline(FILE *f, const struct veil_qemu_plan *p)
{
  if (!hybrid(p))
    return;
  const struct veil_config *c = p->spec->config;
  fprintf(f, "  <qemu:commandline>\n    <qemu:arg value='-chardev'/>\n");
  fprintf(f, "    <qemu:arg value='socket,id=vhostvsock,path=");
  esc(f, p->channel->vhost_user_path);
  fprintf(f, "'/>\n    <qemu:arg value='-device'/>\n");
  /* libvirt fills pcie.0 from slot 1 with the root ports it adds and knows nothing of this
   * device: a fixed slot at the end (q35's 0x1f is the LPC bridge) stays out of its way. */
  bool q35 = strncmp(c->machine_type, "q35", 3) == 0 || strstr(c->machine_type, "-q35") != NULL;
  fprintf(f, "    <qemu:arg value='vhost-user-vsock-%s,id=vsock0,chardev=vhostvsock%s%s'/>\n",
          c->profile == VEIL_PROFILE_SE ? "ccw" : "pci", q35 ? ",bus=pcie.0,addr=0x1e" : "",
          veil_profile_is_tee(c->profile) ? ",iommu_platform=on" : "");
  fprintf(f, "  </qemu:commandline>\n");
}

int veil_libvirt_domain_xml(const struct veil_qemu_plan *p, char **xml, veil_error_t *err)
{
  const struct veil_vm_spec *s = p->spec;
  const struct veil_config *c = s->config;
  if (s->n_disks > 26)
    return veil_error_make(err, EINVAL, "at most 26 disks with the libvirt backend");
  if (s->n_shares > 0 && strcmp(c->shared_fs, "9p") != 0)
    return veil_error_make(err, EINVAL, "shares requested but shared_fs = \"%s\"", c->shared_fs);
  cleanup_free char *bound = NULL;
  if (veil_vm_initdata_binding(s, &bound, err) < 0)
    return -1;
  if (veil_vm_check_nics(s, err) < 0)
    return -1;
  for (size_t i = 0; i < s->n_nics; i++) {
    const char *t = s->nics[i].host_tap;
    if (t == NULL || t[0] == '\0' || strlen(t) >= 16 || strspn(t, "abcdefghijklmnopqrstuvwxyz"
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(t) || strncmp(t, "vnet", 4) == 0)
      return veil_error_make(err, EINVAL, "NIC %zu: the libvirt backend needs host_tap, an interface name "
                             "of at most 15 of [A-Za-z0-9_-] not starting with `vnet` (podnet_host_tap_name)", i);
  }
  unsigned vcpus = s->vcpus ? s->vcpus : c->vcpus;
  unsigned mem = s->memory_mb ? s->memory_mb : c->memory_mb;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return veil_error_errno(err, "open_memstream");
  fprintf(f, "<domain type='%s'%s>\n  <name>veil-", strcmp(c->accel, "kvm") == 0 ? "kvm" : "qemu",
          hybrid(p) ? " xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'" : "");
  esc(f, s->id);
  fprintf(f, "</name>\n  <memory unit='MiB'>%u</memory>\n  <vcpu>%u</vcpu>\n", mem, vcpus);
  memory_backing(f, p);
  os_section(f, p);
  if (c->profile != VEIL_PROFILE_SE)
    fprintf(f, "  <features>\n    <acpi/>\n  </features>\n");
  cpu_section(f, c);
  fprintf(f, "  <clock offset='utc'/>\n  <on_poweroff>destroy</on_poweroff>\n"
             "  <on_reboot>destroy</on_reboot>\n  <on_crash>destroy</on_crash>\n");
  devices(f, p);
  launch_security(f, p, bound);
  /* run QEMU as the configured user, else root with libvirt's capability clearing: the run dir
   * (0700) holds the agent socket */
  fprintf(f, "  <seclabel type='static' model='dac' relabel='no'>\n    <label>%s</label>\n  </seclabel>\n",
          p->dac_label ? p->dac_label : "+0:+0");
  qemu_commandline(f, p);
  fprintf(f, "</domain>\n");
  if (fclose(f) != 0) {
    free(buf);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  *xml = buf;
  return 0;
}
