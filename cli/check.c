/* `veil check`: can this host run each veil profile? A table for people, --json for tools. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "common/cleanup.h"
#include "hypervisor/host_probe.h"

VEIL_DEFINE_CLEANUP(struct veil_host_probe, veil_host_probe_free)

static void usage(FILE *f)
{
  fprintf(f, "usage: veil check [--json] [--root DIR] [--firmware-dir DIR]... [--qemu PATH]\n"
             "                  [--qemu-s390x PATH]\n"
             "  Probe KVM, /dev/vhost-vsock, QEMU and firmware, and say for each TEE\n"
             "  (sev, sev-es, snp, tdx, se) whether it is usable, why not, and what to do.\n"
             "  --root DIR  probe a fake tree (DIR/dev, DIR/sys) instead of /\n");
}

static json_t *jstr_or_null(const char *s)
{
  return s ? json_string(s) : json_null();
}

static int print_json(const struct veil_host_probe *p, const char *qemu, const char *qemu_s390x)
{
  json_t *tees = json_object();
  for (int t = 0; t < VEIL_TEE_COUNT; t++)
    json_object_set_new(tees, veil_tee_name(t),
                        json_pack("{s:b,s:s,s:s,s:o}", "usable", p->tee[t].usable, "why", p->tee[t].why,
                                  "todo", p->tee[t].todo, "firmware", jstr_or_null(p->tee[t].firmware)));
  json_t *root = json_pack(
      "{s:{s:b,s:o},s:{s:b,s:o},s:{s:o,s:s,s:o,s:s},s:{s:b,s:b,s:b,s:i,s:i},"
      "s:{s:b,s:b,s:b,s:b,s:b},s:o,s:{s:b,s:s},s:s}",
      "kvm", "usable", p->kvm, "why", jstr_or_null(p->kvm_why),
      "vhost_vsock", "usable", p->vhost_vsock, "why", jstr_or_null(p->vhost_vsock_why),
      "qemu", "x86_64", jstr_or_null(p->qemu_x86_version), "x86_64_path", qemu,
      "s390x", jstr_or_null(p->qemu_s390x_version), "s390x_path", qemu_s390x,
      "cpuid", "sev", p->cpuid_sev, "sev_es", p->cpuid_sev_es, "snp", p->cpuid_snp,
      "cbitpos", (int)p->cbitpos, "reduced_phys_bits", (int)p->reduced_phys_bits,
      "kvm_params", "sev", p->kvm_sev, "sev_es", p->kvm_sev_es, "sev_snp", p->kvm_snp,
      "tdx", p->kvm_tdx, "prot_virt_host", p->prot_virt_host,
      "tee", tees,
      "dev", "usable", p->qemu_x86_version != NULL, "accel", p->kvm ? "kvm" : "tcg",
      "agent_channel", p->vhost_vsock ? "vhost-vsock (TEE profiles), virtio-serial (dev)" : "virtio-serial");
  if (root == NULL)
    return 1;
  char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  json_decref(root);
  if (s == NULL)
    return 1;
  puts(s);
  free(s);
  return 0;
}

static void row(const char *what, bool ok, const char *detail)
{
  printf("  %-14s %-4s %s\n", what, ok ? "yes" : "no", detail ? detail : "");
}

static int print_table(const struct veil_host_probe *p, const char *root, const char *qemu,
                       const char *qemu_s390x)
{
  char buf[512];
  printf("Host (%s)\n", root);
  row("KVM", p->kvm, p->kvm_why);
  row("vhost-vsock", p->vhost_vsock, p->vhost_vsock_why);
  snprintf(buf, sizeof(buf), "%s (%s)", p->qemu_x86_version ? p->qemu_x86_version : "not usable", qemu);
  row("QEMU x86_64", p->qemu_x86_version != NULL, buf);
  snprintf(buf, sizeof(buf), "%s (%s)", p->qemu_s390x_version ? p->qemu_s390x_version : "not usable",
           qemu_s390x);
  row("QEMU s390x", p->qemu_s390x_version != NULL, buf);
  snprintf(buf, sizeof(buf), "SEV %s, SEV-ES %s, SNP %s, cbitpos %u, reduced-phys-bits %u",
           p->cpuid_sev ? "yes" : "no", p->cpuid_sev_es ? "yes" : "no", p->cpuid_snp ? "yes" : "no",
           p->cbitpos, p->reduced_phys_bits);
  row("CPUID 8000001F", p->cpuid_sev, buf);
  printf("\nProfiles\n");
  snprintf(buf, sizeof(buf), "accel %s, agent over virtio-serial", p->kvm ? "kvm" : "tcg");
  row("dev", p->qemu_x86_version != NULL, p->qemu_x86_version ? buf : "no usable QEMU");
  for (int t = 0; t < VEIL_TEE_COUNT; t++) {
    const struct veil_tee_status *s = &p->tee[t];
    if (s->usable) {
      row(veil_tee_name(t), true, s->firmware ? s->firmware : "");
      continue;
    }
    /* one reason per line */
    const char *why = s->why;
    bool first = true;
    while (*why) {
      size_t n = strcspn(why, ";");
      printf("  %-14s %-4s %.*s\n", first ? veil_tee_name(t) : "", first ? "no" : "", (int)n, why);
      first = false;
      why += n;
      while (*why == ';' || *why == ' ')
        why++;
    }
    printf("  %-14s      -> %s\n", "", s->todo);
  }
  int usable = 0;
  for (int t = 0; t < VEIL_TEE_COUNT; t++)
    usable += p->tee[t].usable;
  printf("\n%s\n", usable ? "At least one TEE is usable on this host."
                          : "No TEE is usable on this host: only the dev profile (no confidentiality) can run.");
  return 0;
}

int veil_cmd_check(int argc, char **argv)
{
  static const struct option opts[] = {
    { "json", no_argument, NULL, 'j' },       { "root", required_argument, NULL, 'r' },
    { "firmware-dir", required_argument, NULL, 'f' }, { "qemu", required_argument, NULL, 'q' },
    { "qemu-s390x", required_argument, NULL, 's' },   { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  bool json = false;
  const char *root = "/", *qemu = "/usr/bin/qemu-system-x86_64", *qemu_s390x = "/usr/bin/qemu-system-s390x";
  const char *fw_dirs[17] = { NULL };
  size_t n_fw = 0;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
    switch (c) {
    case 'j': json = true; break;
    case 'r': root = optarg; break;
    case 'q': qemu = optarg; break;
    case 's': qemu_s390x = optarg; break;
    case 'f':
      if (n_fw == 16) {
        fprintf(stderr, "veil check: at most 16 --firmware-dir\n");
        return 2;
      }
      fw_dirs[n_fw++] = optarg;
      break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "veil check: unexpected argument `%s`\n", argv[optind]);
    usage(stderr);
    return 2;
  }
  struct veil_probe_opts o = { .root = root, .firmware_dirs = n_fw ? fw_dirs : NULL, .qemu_x86 = qemu,
                               .qemu_s390x = qemu_s390x };
  cleanup_with(veil_host_probe_free) struct veil_host_probe *p = NULL;
  cleanup_error veil_error_t err = NULL;
  if (veil_host_probe(&o, &p, &err) < 0) {
    fprintf(stderr, "veil check: %s\n", err->msg);
    return 1;
  }
  return json ? print_json(p, qemu, qemu_s390x) : print_table(p, root, qemu, qemu_s390x);
}
