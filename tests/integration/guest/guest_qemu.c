/* QEMU launcher for the guest tests (guest_qemu.h). */
#include "guest_qemu.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/cleanup.h"

pid_t guest_qemu_start(const struct guest_qemu *q, veil_error_t *err)
{
  cleanup_free char *chardev = NULL, *fsdev = NULL, *serial = NULL, *append = NULL;
  if (asprintf(&chardev, "socket,id=agentch,path=%s,server=on,wait=off", q->agent_socket) < 0 ||
      asprintf(&fsdev, "local,id=fs0,path=%s,security_model=none,multidevs=remap",
               q->shared_dir) < 0 ||
      asprintf(&serial, "file:%s", q->console_path) < 0 ||
      asprintf(&append, "%s%s%s", q->kernel_params ? q->kernel_params : GUEST_KERNEL_PARAMS,
               q->extra_params ? " " : "", q->extra_params ? q->extra_params : "") < 0)
    return veil_error_make(err, ENOMEM, "qemu argv");
  const char *argv[] = {
    "qemu-system-x86_64", "-accel", "tcg", "-machine", q->machine ? q->machine : "q35",
    "-cpu", "max", "-m", "512", "-nodefaults", "-nographic", "-no-reboot",
    "-serial", serial, "-kernel", q->kernel, "-initrd", q->initrd, "-append", append,
    "-device", "virtio-serial-pci", "-chardev", chardev,
    "-device", "virtserialport,chardev=agentch,name=agent.channel.0",
    "-fsdev", fsdev, "-device", "virtio-9p-pci,fsdev=fs0,mount_tag=veilshared",
    NULL,
  };
  pid_t pid = fork();
  if (pid < 0)
    return veil_error_errno(err, "fork");
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null >= 0)
      dup2(null, STDIN_FILENO);
    execvp(argv[0], (char **)argv);
    fprintf(stderr, "exec qemu-system-x86_64: %s (install qemu-system-x86)\n", strerror(errno));
    _exit(127);
  }
  return pid;
}
