#include "hypervisor/qemu_caps.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cleanup.h"
#include "common/fileutil.h"
#include "hypervisor/argvec.h"

#define PROBE_OUTPUT_MAX (4 * 1024 * 1024)

/* Run `path args...` with stdin /dev/null, capture stdout (bounded); stderr discarded. */
static int run_capture(const char *path, const char *a1, const char *a2, char **out, veil_error_t *err)
{
  int pfd[2];
  if (pipe2(pfd, O_CLOEXEC) < 0)
    return veil_error_errno(err, "pipe");
  cleanup_close int rd = pfd[0];
  cleanup_close int wr = pfd[1];
  cleanup_pid pid_t pid = fork();
  if (pid < 0)
    return veil_error_errno(err, "fork");
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(wr, 1) < 0 || dup2(null, 2) < 0)
      _exit(127);
    const char *argv[] = { path, a1, a2, NULL };
    execv(path, (char **)argv);
    _exit(127);
  }
  veil_cleanup_closep(&wr);
  int r = veil_read_fd_all(rd, PROBE_OUTPUT_MAX, out, NULL, err);
  pid_t p = steal_pid(&pid);
  int status = 0;
  while (waitpid(p, &status, 0) < 0 && errno == EINTR)
    ;
  if (r < 0)
    return veil_error_wrap(err, "probe `%s %s`", path, a1);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    free(*out);
    *out = NULL;
    return veil_error_make(err, ENOEXEC, "probe `%s %s %s` failed (status %d)", path, a1,
                           a2 ? a2 : "", status);
  }
  return 0;
}

void veil_qemu_caps_clear(struct veil_qemu_caps *caps)
{
  free(caps->path);
  veil_cleanup_strvp(&caps->objects);
  veil_cleanup_strvp(&caps->machines);
  memset(caps, 0, sizeof(*caps));
}

static bool strv_has(char *const *v, const char *s)
{
  for (; v && *v; v++)
    if (strcmp(*v, s) == 0)
      return true;
  return false;
}

bool veil_qemu_caps_has_object(const struct veil_qemu_caps *caps, const char *type)
{
  return strv_has(caps->objects, type);
}

bool veil_qemu_caps_has_machine(const struct veil_qemu_caps *caps, const char *machine)
{
  return strv_has(caps->machines, machine);
}

int veil_qemu_caps_parse(const char *version_out, const char *object_out, const char *machine_out,
                         const char *help_out, struct veil_qemu_caps *caps, veil_error_t *err)
{
  memset(caps, 0, sizeof(*caps));
  const char *v = strstr(version_out, "version ");
  if (v == NULL || sscanf(v, "version %u.%u.%u", &caps->major, &caps->minor, &caps->micro) < 2)
    return veil_error_make(err, EINVAL, "cannot find a version in `%.80s`", version_out);
  struct veil_argvec objs = { 0 }, machines = { 0 };
  /* -object help: a header line, then one indented type name per line */
  for (const char *l = object_out; l && *l;) {
    const char *e = strchrnul(l, '\n');
    if (*l == ' ') {
      while (*l == ' ')
        l++;
      veil_argvec_pushf(&objs, "%.*s", (int)(e - l), l);
    }
    l = *e ? e + 1 : e;
  }
  /* -machine help: "name   description (alias of x)"; first line is a header */
  for (const char *l = machine_out; l && *l;) {
    const char *e = strchrnul(l, '\n');
    size_t n = strcspn(l, " \n");
    if (n > 0 && strncmp(l, "Supported machines", 18) != 0)
      veil_argvec_pushf(&machines, "%.*s", (int)n, l);
    l = *e ? e + 1 : e;
  }
  caps->sandbox = help_out && strstr(help_out, "-sandbox on") != NULL;
  if (veil_argvec_finish(&objs, &caps->objects, err) < 0 ||
      veil_argvec_finish(&machines, &caps->machines, err) < 0) {
    veil_argvec_clear(&machines);
    veil_qemu_caps_clear(caps);
    return -1;
  }
  return 0;
}

struct cache_entry {
  struct veil_qemu_caps caps;
  struct timespec mtime;
  dev_t dev;
  ino_t ino;
  struct cache_entry *next;
};
static struct cache_entry *cache;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int probe(const char *path, struct veil_qemu_caps *caps, veil_error_t *err)
{
  cleanup_free char *ver = NULL, *objs = NULL, *machines = NULL, *help = NULL;
  if (run_capture(path, "-version", NULL, &ver, err) < 0 ||
      run_capture(path, "-object", "help", &objs, err) < 0 ||
      run_capture(path, "-machine", "help", &machines, err) < 0 ||
      run_capture(path, "-help", NULL, &help, err) < 0)
    return -1;
  if (veil_qemu_caps_parse(ver, objs, machines, help, caps, err) < 0)
    return veil_error_wrap(err, "probe `%s`", path);
  if ((caps->path = strdup(path)) == NULL) {
    veil_qemu_caps_clear(caps);
    return veil_error_make(err, ENOMEM, "out of memory");
  }
  return 0;
}

int veil_qemu_caps_get(const char *path, const struct veil_qemu_caps **out, veil_error_t *err)
{
  struct stat st;
  if (stat(path, &st) < 0)
    return veil_error_errno(err, "QEMU binary `%s` (config key qemu_path)", path);
  if (!S_ISREG(st.st_mode) || access(path, X_OK) < 0)
    return veil_error_make(err, EACCES, "QEMU binary `%s` (config key qemu_path) is not executable", path);
  pthread_mutex_lock(&cache_lock);
  for (struct cache_entry *e = cache; e; e = e->next)
    if (strcmp(e->caps.path, path) == 0 && e->dev == st.st_dev && e->ino == st.st_ino &&
        e->mtime.tv_sec == st.st_mtim.tv_sec && e->mtime.tv_nsec == st.st_mtim.tv_nsec) {
      *out = &e->caps;
      pthread_mutex_unlock(&cache_lock);
      return 0;
    }
  pthread_mutex_unlock(&cache_lock);
  cleanup_free struct cache_entry *e = calloc(1, sizeof(*e));
  if (e == NULL)
    return veil_error_make(err, ENOMEM, "out of memory");
  if (probe(path, &e->caps, err) < 0)
    return -1;
  e->mtime = st.st_mtim;
  e->dev = st.st_dev;
  e->ino = st.st_ino;
  pthread_mutex_lock(&cache_lock);
  e->next = cache;  /* stale entries of a replaced binary stay: they are small */
  cache = e;
  *out = &e->caps;
  steal_pointer(&e);
  pthread_mutex_unlock(&cache_lock);
  return 0;
}

const char *veil_profile_qemu_object(enum veil_profile p, const char **min_version)
{
  static const struct { const char *type, *version; } t[] = {
    [VEIL_PROFILE_DEV] = { NULL, NULL },
    [VEIL_PROFILE_SEV] = { "sev-guest", "2.12" },
    [VEIL_PROFILE_SEV_ES] = { "sev-guest", "6.0" },  /* SEV-ES launch support */
    [VEIL_PROFILE_SNP] = { "sev-snp-guest", "9.1" },
    [VEIL_PROFILE_TDX] = { "tdx-guest", "10.1" },
    [VEIL_PROFILE_SE] = { "s390-pv-guest", "6.0" },
  };
  if ((unsigned)p >= sizeof(t) / sizeof(t[0]))
    return NULL;
  if (min_version)
    *min_version = t[p].version;
  return t[p].type;
}

int veil_qemu_caps_check_profile(const struct veil_qemu_caps *caps, const struct veil_config *cfg,
                                 veil_error_t *err)
{
  const char *need = NULL;
  const char *type = veil_profile_qemu_object(cfg->profile, &need);
  if (type && !veil_qemu_caps_has_object(caps, type))
    return veil_error_make(err, ENOTSUP,
                           "QEMU %u.%u.%u at `%s` cannot run profile %s: it lacks the `%s` object, "
                           "which needs QEMU >= %s (set qemu_path to a newer QEMU)",
                           caps->major, caps->minor, caps->micro, caps->path,
                           veil_profile_name(cfg->profile), type, need);
  if (!veil_qemu_caps_has_machine(caps, cfg->machine_type))
    return veil_error_make(err, ENOTSUP,
                           "QEMU %u.%u.%u at `%s` has no machine `%s` (config key machine_type)",
                           caps->major, caps->minor, caps->micro, caps->path, cfg->machine_type);
  if (cfg->hardening && !caps->sandbox)
    return veil_error_make(err, ENOTSUP,
                           "QEMU at `%s` was built without seccomp (-sandbox): install a QEMU with "
                           "seccomp or set \"hardening\": false", caps->path);
  return 0;
}
