/* `delete`: runs after every task delete (and after a shim crash). It must be idempotent,
 * fast (containerd gives it 5 s) and must not tear down a VM that a live shim still serves.
 * It unmounts the bundle's rootfs and, if the server of this sandbox is gone, kills the
 * VMM it left behind, removes the sandbox state and the dead server's socket (named in the
 * bundle's `address`). Prints a DeleteResponse. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "common/log.h"
#include "github.com/containerd/containerd/runtime/v2/task/shim.pb-c.h"
#include "shim/address.h"
#include "shim/commands.h"
#include "shim/timestamp.h"
#include "shim/state_dir.h"

/* A server that died without cleaning up (SIGKILL) leaves its socket behind; one that
 * still answers (the pod's shim, for an app container) keeps it. */
static void remove_dead_socket(const char *bundle)
{
  char path[PATH_MAX + 16];
  cleanup_error veil_error_t err = NULL;
  cleanup_free char *address = NULL;
  size_t len = 0;
  snprintf(path, sizeof(path), "%s/address", bundle);
  if (veil_read_file(path, 1024, &address, &len, &err) < 0)
    return;
  address[strcspn(address, "\r\n")] = '\0';
  const char *sock = shim_address_path(address);
  struct stat st;
  if (sock[0] == '/' && lstat(sock, &st) == 0 && S_ISSOCK(st.st_mode) && !shim_socket_alive(sock))
    unlink(sock);
}

int shim_cmd_delete(const struct shim_args *args)
{
  cleanup_error veil_error_t err = NULL;
  char cwd[PATH_MAX], path[PATH_MAX + 16];
  const char *bundle = args->bundle;
  if (bundle == NULL)
    bundle = getcwd(cwd, sizeof(cwd)) ? cwd : ".";

  snprintf(path, sizeof(path), "%s/rootfs", bundle);
  if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    log_warn("delete %s: unmount %s: %s", args->id, path, strerror(errno));

  shim_state_set_scope(args->address, args->namespace_);
  if (shim_state_reap_orphan(args->id, &err) < 0)
    log_error("delete %s: %s", args->id, err->msg);
  remove_dead_socket(bundle);

  Google__Protobuf__Timestamp ts = shim_timestamp_now();
  Containerd__Task__V2__DeleteResponse resp = CONTAINERD__TASK__V2__DELETE_RESPONSE__INIT;
  resp.exit_status = 128 + SIGKILL;
  resp.exited_at = &ts;
  size_t len = containerd__task__v2__delete_response__get_packed_size(&resp);
  cleanup_free uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL)
    return 1;
  containerd__task__v2__delete_response__pack(&resp, buf);
  if (veil_write_all(1, buf, len, &err) < 0)
    return 1;
  return 0;
}
