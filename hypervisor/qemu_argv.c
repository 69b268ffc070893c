#include "hypervisor/qemu_argv.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/cleanup.h"
#include "common/initdata.h"
#include "hypervisor/argvec.h"

#define SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"

char *veil_vm_cmdline(const struct veil_vm_spec *spec)
{
  const char *base = spec->config->kernel_params;
  const char *extra = spec->extra_kernel_params;
  char *s = NULL;
  if (asprintf(&s, "%s%s%s", base, (extra && extra[0] && base[0]) ? " " : "", extra ? extra : "") < 0)
    return NULL;
  return s;
}

int veil_vm_initdata_binding(const struct veil_vm_spec *spec, char **b64, veil_error_t *err)
{
  enum veil_tee tee;
  uint8_t field[VEIL_INITDATA_MAX_DIGEST];
  size_t len;
  *b64 = NULL;
  if (!spec->initdata_digest || spec->initdata_digest_len == 0 ||
      !veil_profile_tee(spec->config->profile, &tee))
    return 0;
  return veil_initdata_binding(tee, spec->initdata_digest, spec->initdata_digest_len, field, &len,
                               b64, err);
}

static bool is_s390x(const struct veil_config *c)
{
  return c->profile == VEIL_PROFILE_SE;
}

/* Device suffix (-pci / -ccw) and the options a TEE needs on virtio devices. */
static const char *bus(const struct veil_config *c)
{
  return is_s390x(c) ? "ccw" : "pci";
}

static const char *iommu(const struct veil_config *c)
{
  return veil_profile_is_tee(c->profile) ? ",iommu_platform=on" : "";
}

static bool has_comma(const char *s)
{
  return s && strchr(s, ',') != NULL;
}

/* Hybrid vsock: the vhost-user backend maps guest RAM, so RAM comes from a shared memfd. For
 * SNP and TDX, QEMU (>= 9.1 / 10.1) keeps private pages in a guest_memfd of its own whatever
 * the backend; this memfd then holds the shared pages only (docs/hypervisor.md). */
#define SHARED_RAM_ID "mem"

static bool shared_ram(const struct veil_qemu_plan *p)
{
  return p->channel->kind == VEIL_CHANNEL_HYBRID_VSOCK;
}

static void push_machine(struct veil_argvec *a, const struct veil_config *c, bool shared_ram)
{
  const char *mem = shared_ram ? ",memory-backend=" SHARED_RAM_ID : "";
  const char *cgs = NULL;
  switch (c->profile) {
  case VEIL_PROFILE_SEV:
  case VEIL_PROFILE_SEV_ES:
  case VEIL_PROFILE_SNP: cgs = "sev0"; break;
  case VEIL_PROFILE_TDX: cgs = "tdx0"; break;
  case VEIL_PROFILE_SE: cgs = "pv0"; break;
  case VEIL_PROFILE_DEV: break;
  }
  veil_argvec_push(a, "-machine");
  if (cgs == NULL)
    veil_argvec_pushf(a, "%s%s", c->machine_type, mem);
  else if (is_s390x(c))
    veil_argvec_pushf(a, "%s,confidential-guest-support=%s%s", c->machine_type, cgs, mem);
  else  /* a TEE's interrupt controller must be split (TDX requires it; Kata forces it) */
    veil_argvec_pushf(a, "%s,confidential-guest-support=%s,kernel_irqchip=split%s", c->machine_type, cgs, mem);
}

static void push_agent_channel(struct veil_argvec *a, const struct veil_qemu_plan *p)
{
  const struct veil_config *c = p->spec->config;
  const struct veil_agent_channel *ch = p->channel;
  switch (ch->kind) {
  case VEIL_CHANNEL_VHOST_VSOCK:
    veil_argvec_push(a, "-device");
    veil_argvec_pushf(a, "vhost-vsock-%s,id=vsock0,guest-cid=%u,vhostfd=%d%s", bus(c), ch->cid,
                      VEIL_QEMU_VHOST_FD, iommu(c));
    return;
  case VEIL_CHANNEL_HYBRID_VSOCK:  /* QEMU connects to the helper, which listens */
    veil_argvec_push(a, "-chardev");
    veil_argvec_pushf(a, "socket,id=vhostvsock,path=%s", ch->vhost_user_path);
    veil_argvec_push(a, "-device");
    veil_argvec_pushf(a, "vhost-user-vsock-%s,id=vsock0,chardev=vhostvsock%s", bus(c), iommu(c));
    return;
  case VEIL_CHANNEL_VIRTIO_SERIAL:
    veil_argvec_push(a, "-device");
    veil_argvec_pushf(a, "virtio-serial-%s,id=vser0%s", bus(c), iommu(c));
    veil_argvec_push(a, "-chardev");
    veil_argvec_pushf(a, "socket,id=agentch,path=%s,server=on,wait=off", ch->unix_path);
    veil_argvec_push(a, "-device");
    veil_argvec_push(a, "virtserialport,chardev=agentch,name=" VEIL_AGENT_CHANNEL_NAME);
    return;
  }
}

static const char *default_cpu(const struct veil_config *c)
{
  if (c->vcpu_type[0])
    return c->vcpu_type;
  switch (c->profile) {
  case VEIL_PROFILE_DEV: return strcmp(c->accel, "kvm") == 0 ? "host" : NULL;
  case VEIL_PROFILE_SNP: return "EPYC-v4";  /* the measurement assumes a fixed CPU model */
  case VEIL_PROFILE_TDX: return "host,pmu=off";
  default: return "host";
  }
}

static int push_tee_object(struct veil_argvec *a, const struct veil_qemu_plan *p, veil_error_t *err)
{
  const struct veil_vm_spec *s = p->spec;
  const struct veil_config *c = s->config;
  cleanup_free char *bound = NULL; /* SNP host-data / TDX mrconfigid */
  if (veil_vm_initdata_binding(s, &bound, err) < 0)
    return -1;
  switch (c->profile) {
  case VEIL_PROFILE_DEV:
    return 0;
  case VEIL_PROFILE_SEV:
  case VEIL_PROFILE_SEV_ES:
    veil_argvec_push(a, "-object");
    veil_argvec_pushf(a, "sev-guest,id=sev0,cbitpos=%u,reduced-phys-bits=%u,policy=0x%llx%s", p->cbitpos,
                      p->reduced_phys_bits, c->policy, c->kernel_hashes ? ",kernel-hashes=on" : "");
    return 0;
  case VEIL_PROFILE_SNP: {
    const char *hd = bound;
    veil_argvec_push(a, "-object");
    veil_argvec_pushf(a, "sev-snp-guest,id=sev0,cbitpos=%u,reduced-phys-bits=%u,policy=0x%llx%s%s%s%s%s%s%s%s",
                      p->cbitpos, p->reduced_phys_bits, c->policy, c->kernel_hashes ? ",kernel-hashes=on" : "",
                      hd ? ",host-data=" : "", hd ? hd : "",
                      p->id_block_b64 ? ",id-block=" : "", p->id_block_b64 ? p->id_block_b64 : "",
                      p->id_auth_b64 ? ",id-auth=" : "", p->id_auth_b64 ? p->id_auth_b64 : "",
                      (p->id_auth_b64 && c->author_key_enabled) ? ",author-key-enabled=on" : "");
    return 0;
  }
  case VEIL_PROFILE_TDX: {
    const char *mr = bound;
    cleanup_free char *qgs = NULL;
    const char *q = c->quote_generation_socket;
    unsigned cid, port;
    if (strncmp(q, "unix:", 5) == 0) {
      if (strpbrk(q + 5, "\"\\"))
        return veil_error_make(err, EINVAL, "quote_generation_socket path contains a quote or backslash");
      if (asprintf(&qgs, ",\"quote-generation-socket\":{\"type\":\"unix\",\"path\":\"%s\"}", q + 5) < 0)
        qgs = NULL;
    } else if (sscanf(q, "vsock:%u:%u", &cid, &port) == 2) {
      if (asprintf(&qgs, ",\"quote-generation-socket\":{\"type\":\"vsock\",\"cid\":\"%u\",\"port\":\"%u\"}",
                   cid, port) < 0)
        qgs = NULL;
    } else {
      qgs = strdup("");
    }
    if (qgs == NULL)
      return veil_error_make(err, ENOMEM, "out of memory");
    /* JSON form: the nested quote-generation-socket is not expressible in key=value syntax */
    veil_argvec_push(a, "-object");
    veil_argvec_pushf(a, "{\"qom-type\":\"tdx-guest\",\"id\":\"tdx0\"%s%s%s%s}", mr ? ",\"mrconfigid\":\"" : "",
                      mr ? mr : "", mr ? "\"" : "", qgs);
    return 0;
  }
  case VEIL_PROFILE_SE:
    veil_argvec_push(a, "-object");
    veil_argvec_push(a, "s390-pv-guest,id=pv0");
    return 0;
  }
  return 0;
}

static bool is_mac(const char *m)
{
  if (m == NULL || strlen(m) != 17)
    return false;
  for (int i = 0; i < 17; i++)
    if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
      return false;
  return true;
}

int veil_vm_check_nics(const struct veil_vm_spec *s, veil_error_t *err)
{
  if (s->n_nics > VEIL_VM_MAX_NICS)
    return veil_error_make(err, EINVAL, "%zu NICs requested, at most %d", s->n_nics, VEIL_VM_MAX_NICS);
  for (size_t i = 0; i < s->n_nics; i++) {
    const struct veil_vm_nic *n = &s->nics[i];
    if (!is_mac(n->mac))
      return veil_error_make(err, EINVAL, "NIC %zu: MAC `%s` is not of the form aa:bb:cc:dd:ee:ff", i,
                             n->mac ? n->mac : "(none)");
    if (strtoul(n->mac, NULL, 16) & 1)
      return veil_error_make(err, EINVAL, "NIC %zu: MAC `%s` is a multicast address", i, n->mac);
    if (n->mtu != 0 && (n->mtu < 68 || n->mtu > 65535))
      return veil_error_make(err, EINVAL, "NIC %zu: MTU %u is outside 68..65535", i, n->mtu);
  }
  return 0;
}

/* NIC i: the tap fd the launcher put at VEIL_QEMU_NIC_FD(i) (vhost-net at the next fd) and a
 * virtio-net with the pod veth's MAC. No option ROM: nothing to PXE-boot, and nothing for TEE
 * firmware to load or measure. */
static void push_nics(struct veil_argvec *a, const struct veil_qemu_plan *p)
{
  const struct veil_vm_spec *s = p->spec;
  const struct veil_config *c = s->config;
  for (size_t i = 0; i < s->n_nics; i++) {
    const struct veil_vm_nic *n = &s->nics[i];
    veil_argvec_push(a, "-netdev");
    if (p->vhost_net)
      veil_argvec_pushf(a, "tap,id=net%zu,fd=%d,vhost=on,vhostfd=%d", i, VEIL_QEMU_NIC_FD(i),
                        VEIL_QEMU_NIC_FD(i) + 1);
    else
      veil_argvec_pushf(a, "tap,id=net%zu,fd=%d", i, VEIL_QEMU_NIC_FD(i));
    char mtu[32] = "";
    if (n->mtu)
      snprintf(mtu, sizeof(mtu), ",host_mtu=%u", n->mtu);
    veil_argvec_push(a, "-device");
    veil_argvec_pushf(a, "virtio-net-%s,netdev=net%zu,mac=%s%s%s%s", bus(c), i, n->mac, mtu,
                      is_s390x(c) ? "" : ",romfile=", iommu(c));
  }
}

int veil_qemu_build_argv(const struct veil_qemu_plan *p, char ***argv, veil_error_t *err)
{
  const struct veil_vm_spec *s = p->spec;
  const struct veil_config *c = s->config;
  struct veil_argvec a = { 0 };
  unsigned vcpus = s->vcpus ? s->vcpus : c->vcpus;
  unsigned mem = s->memory_mb ? s->memory_mb : c->memory_mb;

  if (has_comma(s->id) || strchr(s->id, '/') || s->id[0] == '\0')
    return veil_error_make(err, EINVAL, "VM id `%s` must be non-empty without ',' or '/'", s->id);
  for (size_t i = 0; i < s->n_shares; i++)
    if (has_comma(s->shares[i].tag) || has_comma(s->shares[i].host_path) || !s->shares[i].tag[0])
      return veil_error_make(err, EINVAL, "share %zu (`%s`): tag and path must be non-empty without ','",
                             i, s->shares[i].host_path);
  for (size_t i = 0; i < s->n_disks; i++)
    if (has_comma(s->disks[i].path) || has_comma(s->disks[i].serial))
      return veil_error_make(err, EINVAL, "disk `%s`: path and serial must not contain ','", s->disks[i].path);
  if (s->n_shares > 0 && strcmp(c->shared_fs, "9p") != 0)
    return veil_error_make(err, EINVAL, "shares requested but config `%s` has shared_fs = \"%s\"",
                           c->path ? c->path : "?", c->shared_fs);
  if (veil_vm_check_nics(s, err) < 0)
    return -1;

  veil_argvec_push(&a, c->qemu_path);
  veil_argvec_push(&a, "-name");
  veil_argvec_pushf(&a, "guest=veil-%s,debug-threads=on", s->id);
  push_machine(&a, c, shared_ram(p));
  veil_argvec_push(&a, "-accel");
  veil_argvec_push(&a, c->accel);
  const char *cpu = default_cpu(c);
  if (cpu) {
    veil_argvec_push(&a, "-cpu");
    veil_argvec_push(&a, cpu);
  }
  veil_argvec_push(&a, "-m");
  veil_argvec_pushf(&a, "%uM", mem);
  if (shared_ram(p)) {
    veil_argvec_push(&a, "-object");
    veil_argvec_pushf(&a, "memory-backend-memfd,id=" SHARED_RAM_ID ",size=%uM,share=on", mem);
  }
  veil_argvec_push(&a, "-smp");
  veil_argvec_pushf(&a, "%u", vcpus);
  if (push_tee_object(&a, p, err) < 0) {
    veil_argvec_clear(&a);
    return -1;
  }
  if (p->firmware && p->firmware[0]) {
    if (p->fw_mapping == VEIL_FW_MEMORY || c->profile == VEIL_PROFILE_DEV) {
      veil_argvec_push(&a, "-bios");
      veil_argvec_push(&a, p->firmware);
    } else {
      veil_argvec_push(&a, "-drive");
      veil_argvec_pushf(&a, "if=pflash,format=raw,unit=0,readonly=on,file=%s", p->firmware);
    }
  }
  veil_argvec_push(&a, "-kernel");
  veil_argvec_push(&a, c->kernel);
  if (!is_s390x(c)) {  /* an SE image carries its initrd and command line */
    if (c->initrd[0]) {
      veil_argvec_push(&a, "-initrd");
      veil_argvec_push(&a, c->initrd);
    }
    cleanup_free char *cmdline = veil_vm_cmdline(s);
    veil_argvec_push(&a, "-append");
    veil_argvec_push(&a, cmdline);
  }
  veil_argvec_push(&a, "-nodefaults");
  veil_argvec_push(&a, "-no-user-config");
  veil_argvec_push(&a, "-display");
  veil_argvec_push(&a, "none");
  veil_argvec_push(&a, "-no-reboot");
  if (p->sandbox) {
    veil_argvec_push(&a, "-sandbox");
    veil_argvec_push(&a, SANDBOX);
  }
  veil_argvec_push(&a, "-chardev");
  veil_argvec_pushf(&a, "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", p->run_dir);
  veil_argvec_push(&a, "-mon");
  veil_argvec_push(&a, "chardev=qmp,mode=control");
  veil_argvec_push(&a, "-chardev");
  veil_argvec_pushf(&a, "file,id=console,path=%s/console.log", p->run_dir);
  if (is_s390x(c)) {
    veil_argvec_push(&a, "-device");
    veil_argvec_push(&a, "sclpconsole,chardev=console");
  } else {
    veil_argvec_push(&a, "-serial");
    veil_argvec_push(&a, "chardev:console");
  }
  veil_argvec_push(&a, "-object");
  veil_argvec_push(&a, "rng-random,id=rng0,filename=/dev/urandom");
  veil_argvec_push(&a, "-device");
  veil_argvec_pushf(&a, "virtio-rng-%s,rng=rng0%s", bus(c), iommu(c));
  push_agent_channel(&a, p);
  for (size_t i = 0; i < s->n_shares; i++) {
    veil_argvec_push(&a, "-fsdev");
    veil_argvec_pushf(&a, "local,id=fs%zu,path=%s,security_model=none,multidevs=remap%s", i,
                      s->shares[i].host_path, s->shares[i].readonly ? ",readonly=on" : "");
    veil_argvec_push(&a, "-device");
    veil_argvec_pushf(&a, "virtio-9p-%s,fsdev=fs%zu,mount_tag=%s%s", bus(c), i, s->shares[i].tag, iommu(c));
  }
  for (size_t i = 0; i < s->n_disks; i++) {
    const struct veil_vm_disk *d = &s->disks[i];
    veil_argvec_push(&a, "-drive");
    veil_argvec_pushf(&a, "file=%s,if=none,id=disk%zu,format=raw%s", d->path, i,
                      d->readonly ? ",readonly=on" : "");
    veil_argvec_push(&a, "-device");
    veil_argvec_pushf(&a, "virtio-blk-%s,drive=disk%zu%s%s%s", bus(c), i, d->serial ? ",serial=" : "",
                      d->serial ? d->serial : "", iommu(c));
  }
  push_nics(&a, p);
  return veil_argvec_finish(&a, argv, err);
}
