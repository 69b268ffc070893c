/* grpc.Spec -> OCI config.json (spec_json.h). */
#include "agent/spec_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Helpers that skip empty values; jansson's *_new functions tolerate NULL
 * values in json_object_set_new (they return -1), so failures only lose a key. */
static void set_str(json_t *o, const char *k, const char *v)
{
  if (v && *v)
    json_object_set_new(o, k, json_string(v));
}
static void set_int(json_t *o, const char *k, json_int_t v)
{
  if (v != 0)
    json_object_set_new(o, k, json_integer(v));
}
static void set_uint(json_t *o, const char *k, uint64_t v)
{
  /* JSON integers are signed 64-bit in jansson: clamp (values above are not
   * meaningful for runtime-spec fields). */
  if (v != 0)
    json_object_set_new(o, k, json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v));
}
static void set_bool(json_t *o, const char *k, bool v)
{
  if (v)
    json_object_set_new(o, k, json_true());
}
static json_t *strv(char **v, size_t n)
{
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_string(v[i] ? v[i] : ""));
  return a;
}
static void set_strv(json_t *o, const char *k, char **v, size_t n)
{
  if (n)
    json_object_set_new(o, k, strv(v, n));
}
/* Set a sub-object only when it has keys. */
static void set_obj(json_t *o, const char *k, json_t *v)
{
  if (v && json_object_size(v) > 0)
    json_object_set_new(o, k, v);
  else
    json_decref(v);
}

static json_t *caps_to_json(const Grpc__LinuxCapabilities *c)
{
  json_t *o = json_object();
  set_strv(o, "bounding", c->bounding, c->n_bounding);
  set_strv(o, "effective", c->effective, c->n_effective);
  set_strv(o, "inheritable", c->inheritable, c->n_inheritable);
  set_strv(o, "permitted", c->permitted, c->n_permitted);
  set_strv(o, "ambient", c->ambient, c->n_ambient);
  return o;
}

json_t *agent_process_to_json(const Grpc__Process *p, veil_error_t *err)
{
  if (!p)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "OCI process is missing"), NULL;
  if (p->n_args == 0)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "OCI process has no args"), NULL;
  json_t *o = json_object();
  set_bool(o, "terminal", p->terminal);
  if (p->consolesize && (p->consolesize->height || p->consolesize->width))
    json_object_set_new(o, "consoleSize", json_pack("{s:I,s:I}", "height",
                                                    (json_int_t)p->consolesize->height, "width",
                                                    (json_int_t)p->consolesize->width));
  json_t *user = json_object();
  json_object_set_new(user, "uid", json_integer(p->user ? p->user->uid : 0));
  json_object_set_new(user, "gid", json_integer(p->user ? p->user->gid : 0));
  if (p->user && p->user->n_additionalgids) {
    json_t *g = json_array();
    for (size_t i = 0; i < p->user->n_additionalgids; i++)
      json_array_append_new(g, json_integer(p->user->additionalgids[i]));
    json_object_set_new(user, "additionalGids", g);
  }
  if (p->user)
    set_str(user, "username", p->user->username);
  json_object_set_new(o, "user", user);
  json_object_set_new(o, "args", strv(p->args, p->n_args));
  set_strv(o, "env", p->env, p->n_env);
  json_object_set_new(o, "cwd", json_string(p->cwd && *p->cwd ? p->cwd : "/"));
  if (p->capabilities)
    set_obj(o, "capabilities", caps_to_json(p->capabilities));
  if (p->n_rlimits) {
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_rlimits; i++) {
      const Grpc__POSIXRlimit *r = p->rlimits[i];
      json_array_append_new(a, json_pack("{s:s,s:I,s:I}", "type", r->type ? r->type : "",
                                         "hard", (json_int_t)r->hard, "soft", (json_int_t)r->soft));
    }
    json_object_set_new(o, "rlimits", a);
  }
  set_bool(o, "noNewPrivileges", p->nonewprivileges);
  set_str(o, "apparmorProfile", p->apparmorprofile);
  set_int(o, "oomScoreAdj", p->oomscoreadj);
  set_str(o, "selinuxLabel", p->selinuxlabel);
  return o;
}

static json_t *throttle_devs(Grpc__LinuxThrottleDevice **d, size_t n)
{
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_pack("{s:I,s:I,s:I}", "major", (json_int_t)d[i]->major,
                                       "minor", (json_int_t)d[i]->minor, "rate",
                                       (json_int_t)d[i]->rate));
  return a;
}

json_t *agent_resources_to_json(const Grpc__LinuxResources *r)
{
  json_t *o = json_object();
  if (r->n_devices) {
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_devices; i++) {
      const Grpc__LinuxDeviceCgroup *d = r->devices[i];
      json_t *e = json_object();
      json_object_set_new(e, "allow", json_boolean(d->allow));
      set_str(e, "type", d->type);
      /* -1 is "all" in the Go runtime; a zero major/minor is a real device. */
      if (d->major >= 0)
        json_object_set_new(e, "major", json_integer(d->major));
      if (d->minor >= 0)
        json_object_set_new(e, "minor", json_integer(d->minor));
      set_str(e, "access", d->access);
      json_array_append_new(a, e);
    }
    json_object_set_new(o, "devices", a);
  }
  if (r->memory) {
    json_t *m = json_object();
    set_int(m, "limit", r->memory->limit);
    set_int(m, "reservation", r->memory->reservation);
    set_int(m, "swap", r->memory->swap);
    set_int(m, "kernel", r->memory->kernel);
    set_int(m, "kernelTCP", r->memory->kerneltcp);
    set_uint(m, "swappiness", r->memory->swappiness);
    set_bool(m, "disableOOMKiller", r->memory->disableoomkiller);
    set_obj(o, "memory", m);
  }
  if (r->cpu) {
    json_t *c = json_object();
    set_uint(c, "shares", r->cpu->shares);
    set_int(c, "quota", r->cpu->quota);
    set_uint(c, "period", r->cpu->period);
    set_int(c, "realtimeRuntime", r->cpu->realtimeruntime);
    set_uint(c, "realtimePeriod", r->cpu->realtimeperiod);
    set_str(c, "cpus", r->cpu->cpus);
    set_str(c, "mems", r->cpu->mems);
    set_obj(o, "cpu", c);
  }
  if (r->pids && r->pids->limit != 0)
    json_object_set_new(o, "pids", json_pack("{s:I}", "limit", (json_int_t)r->pids->limit));
  if (r->blockio) {
    const Grpc__LinuxBlockIO *b = r->blockio;
    json_t *j = json_object();
    set_uint(j, "weight", b->weight);
    set_uint(j, "leafWeight", b->leafweight);
    if (b->n_weightdevice) {
      json_t *a = json_array();
      for (size_t i = 0; i < b->n_weightdevice; i++) {
        const Grpc__LinuxWeightDevice *d = b->weightdevice[i];
        json_t *e = json_pack("{s:I,s:I}", "major", (json_int_t)d->major, "minor",
                              (json_int_t)d->minor);
        set_uint(e, "weight", d->weight);
        set_uint(e, "leafWeight", d->leafweight);
        json_array_append_new(a, e);
      }
      json_object_set_new(j, "weightDevice", a);
    }
    if (b->n_throttlereadbpsdevice)
      json_object_set_new(j, "throttleReadBpsDevice",
                          throttle_devs(b->throttlereadbpsdevice, b->n_throttlereadbpsdevice));
    if (b->n_throttlewritebpsdevice)
      json_object_set_new(j, "throttleWriteBpsDevice",
                          throttle_devs(b->throttlewritebpsdevice, b->n_throttlewritebpsdevice));
    if (b->n_throttlereadiopsdevice)
      json_object_set_new(j, "throttleReadIOPSDevice",
                          throttle_devs(b->throttlereadiopsdevice, b->n_throttlereadiopsdevice));
    if (b->n_throttlewriteiopsdevice)
      json_object_set_new(j, "throttleWriteIOPSDevice",
                          throttle_devs(b->throttlewriteiopsdevice, b->n_throttlewriteiopsdevice));
    set_obj(o, "blockIO", j);
  }
  if (r->n_hugepagelimits) {
    json_t *a = json_array();
    for (size_t i = 0; i < r->n_hugepagelimits; i++)
      json_array_append_new(a, json_pack("{s:s,s:I}", "pageSize",
                                         r->hugepagelimits[i]->pagesize ? r->hugepagelimits[i]->pagesize : "",
                                         "limit", (json_int_t)r->hugepagelimits[i]->limit));
    json_object_set_new(o, "hugepageLimits", a);
  }
  if (r->network) {
    json_t *n = json_object();
    set_uint(n, "classID", r->network->classid);
    if (r->network->n_priorities) {
      json_t *a = json_array();
      for (size_t i = 0; i < r->network->n_priorities; i++)
        json_array_append_new(a, json_pack("{s:s,s:I}", "name",
                                           r->network->priorities[i]->name ? r->network->priorities[i]->name : "",
                                           "priority", (json_int_t)r->network->priorities[i]->priority));
      json_object_set_new(n, "priorities", a);
    }
    set_obj(o, "network", n);
  }
  return o;
}

static json_t *id_mappings(Grpc__LinuxIDMapping **m, size_t n)
{
  json_t *a = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(a, json_pack("{s:I,s:I,s:I}", "containerID", (json_int_t)m[i]->containerid,
                                       "hostID", (json_int_t)m[i]->hostid, "size",
                                       (json_int_t)m[i]->size));
  return a;
}

static json_t *seccomp_to_json(const Grpc__LinuxSeccomp *s)
{
  json_t *o = json_object();
  set_str(o, "defaultAction", s->defaultaction);
  set_strv(o, "architectures", s->architectures, s->n_architectures);
  set_strv(o, "flags", s->flags, s->n_flags);
  if (s->n_syscalls) {
    json_t *a = json_array();
    for (size_t i = 0; i < s->n_syscalls; i++) {
      const Grpc__LinuxSyscall *sc = s->syscalls[i];
      json_t *e = json_object();
      json_object_set_new(e, "names", strv(sc->names, sc->n_names));
      set_str(e, "action", sc->action);
      if (sc->errno_ret_case == GRPC__LINUX_SYSCALL__ERRNO_RET_ERRNORET)
        json_object_set_new(e, "errnoRet", json_integer(sc->errnoret));
      if (sc->n_args) {
        json_t *args = json_array();
        for (size_t j = 0; j < sc->n_args; j++) {
          const Grpc__LinuxSeccompArg *ar = sc->args[j];
          json_t *x = json_pack("{s:I,s:I}", "index", (json_int_t)ar->index, "value",
                                (json_int_t)ar->value);
          set_uint(x, "valueTwo", ar->valuetwo);
          set_str(x, "op", ar->op);
          json_array_append_new(args, x);
        }
        json_object_set_new(e, "args", args);
      }
      json_array_append_new(a, e);
    }
    json_object_set_new(o, "syscalls", a);
  }
  return o;
}

static json_t *linux_to_json(const Grpc__Linux *l)
{
  json_t *o = json_object();
  if (l->n_uidmappings)
    json_object_set_new(o, "uidMappings", id_mappings(l->uidmappings, l->n_uidmappings));
  if (l->n_gidmappings)
    json_object_set_new(o, "gidMappings", id_mappings(l->gidmappings, l->n_gidmappings));
  if (l->n_sysctl) {
    json_t *s = json_object();
    for (size_t i = 0; i < l->n_sysctl; i++)
      if (l->sysctl[i]->key)
        json_object_set_new(s, l->sysctl[i]->key, json_string(l->sysctl[i]->value ? l->sysctl[i]->value : ""));
    json_object_set_new(o, "sysctl", s);
  }
  if (l->resources)
    set_obj(o, "resources", agent_resources_to_json(l->resources));
  set_str(o, "cgroupsPath", l->cgroupspath);
  json_t *ns = json_array();
  for (size_t i = 0; i < l->n_namespaces; i++) {
    json_t *e = json_object();
    json_object_set_new(e, "type", json_string(l->namespaces[i]->type ? l->namespaces[i]->type : ""));
    set_str(e, "path", l->namespaces[i]->path);
    json_array_append_new(ns, e);
  }
  json_object_set_new(o, "namespaces", ns);
  if (l->n_devices) {
    json_t *a = json_array();
    for (size_t i = 0; i < l->n_devices; i++) {
      const Grpc__LinuxDevice *d = l->devices[i];
      json_t *e = json_pack("{s:s,s:s,s:I,s:I}", "path", d->path ? d->path : "", "type",
                            d->type ? d->type : "", "major", (json_int_t)d->major, "minor",
                            (json_int_t)d->minor);
      set_uint(e, "fileMode", d->filemode);
      json_object_set_new(e, "uid", json_integer(d->uid));
      json_object_set_new(e, "gid", json_integer(d->gid));
      json_array_append_new(a, e);
    }
    json_object_set_new(o, "devices", a);
  }
  if (l->seccomp)
    set_obj(o, "seccomp", seccomp_to_json(l->seccomp));
  set_str(o, "rootfsPropagation", l->rootfspropagation);
  set_strv(o, "maskedPaths", l->maskedpaths, l->n_maskedpaths);
  set_strv(o, "readonlyPaths", l->readonlypaths, l->n_readonlypaths);
  set_str(o, "mountLabel", l->mountlabel);
  if (l->intelrdt && l->intelrdt->l3cacheschema && *l->intelrdt->l3cacheschema)
    json_object_set_new(o, "intelRdt", json_pack("{s:s}", "l3CacheSchema", l->intelrdt->l3cacheschema));
  return o;
}

json_t *agent_spec_to_json(const Grpc__Spec *s, veil_error_t *err)
{
  if (!s)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "OCI spec is missing"), NULL;
  if (!s->root || !s->root->path || !*s->root->path)
    return veil_error_grpc(err, VEIL_GRPC_INVALID_ARGUMENT, "OCI spec has no root.path"), NULL;
  json_t *proc = agent_process_to_json(s->process, err);
  if (!proc)
    return NULL;
  json_t *o = json_object();
  json_object_set_new(o, "ociVersion", json_string(s->version && *s->version ? s->version : "1.0.2"));
  json_object_set_new(o, "process", proc);
  json_t *root = json_pack("{s:s}", "path", s->root->path);
  set_bool(root, "readonly", s->root->readonly);
  json_object_set_new(o, "root", root);
  set_str(o, "hostname", s->hostname);
  json_t *mounts = json_array();
  for (size_t i = 0; i < s->n_mounts; i++) {
    const Grpc__Mount *m = s->mounts[i];
    json_t *e = json_object();
    json_object_set_new(e, "destination", json_string(m->destination ? m->destination : ""));
    set_str(e, "type", m->type);
    set_str(e, "source", m->source);
    set_strv(e, "options", m->options, m->n_options);
    json_array_append_new(mounts, e);
  }
  json_object_set_new(o, "mounts", mounts);
  if (s->n_annotations) {
    json_t *a = json_object();
    for (size_t i = 0; i < s->n_annotations; i++)
      if (s->annotations[i]->key)
        json_object_set_new(a, s->annotations[i]->key,
                            json_string(s->annotations[i]->value ? s->annotations[i]->value : ""));
    json_object_set_new(o, "annotations", a);
  }
  if (s->linux)
    json_object_set_new(o, "linux", linux_to_json(s->linux));
  return o;
}
