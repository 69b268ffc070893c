/* The agent's RPC operations on decoded requests (service.c decodes, checks the
 * policy and encodes; these do the work). Each returns 0 or -1 with *err. */
#ifndef VEIL_AGENT_OPS_H
#define VEIL_AGENT_OPS_H

#include "agent.pb-c.h"
#include "agent/agent.h"
#include "health.pb-c.h"

/* A cancellation flag from the ttrpc request (may be NULL). */
typedef const volatile bool *agent_cancel_t;

/* container.c */
int agent_create_container(struct agent *a, const Grpc__CreateContainerRequest *r, veil_error_t *err);
int agent_start_container(struct agent *a, const char *id, veil_error_t *err);
int agent_remove_container(struct agent *a, const char *id, uint32_t timeout_s, veil_error_t *err);
int agent_exec_process(struct agent *a, const Grpc__ExecProcessRequest *r, veil_error_t *err);
int agent_signal_process(struct agent *a, const char *cid, const char *exec_id, uint32_t sig,
                         veil_error_t *err);
int agent_wait_process(struct agent *a, const char *cid, const char *exec_id, agent_cancel_t cancel,
                       int32_t *status, veil_error_t *err);
int agent_pause_container(struct agent *a, const char *id, bool pause, veil_error_t *err);
int agent_update_container(struct agent *a, const Grpc__UpdateContainerRequest *r, veil_error_t *err);
/* Kill and delete every container (DestroySandbox). */
void agent_remove_all_containers(struct agent *a);

/* stdio.c */
int agent_read_stream(struct agent *a, const Grpc__ReadStreamRequest *r, bool stderr_stream,
                      agent_cancel_t cancel, uint8_t **data, size_t *len, veil_error_t *err);
int agent_write_stdin(struct agent *a, const Grpc__WriteStreamRequest *r, agent_cancel_t cancel,
                      uint32_t *written, veil_error_t *err);
int agent_close_stdin(struct agent *a, const char *cid, const char *exec_id, veil_error_t *err);
int agent_tty_resize(struct agent *a, const Grpc__TtyWinResizeRequest *r, veil_error_t *err);

/* stats.c: *out is allocated with protobuf-c's default allocator layout
 * (free with agent_stats_free). */
int agent_stats_container(struct agent *a, const char *id, Grpc__StatsContainerResponse **out,
                          veil_error_t *err);
void agent_stats_free(Grpc__StatsContainerResponse *r);
/* The cgroup file holding pid's oom_kill counter, or NULL. */
char *agent_oom_file(pid_t pid);
/* Block until a container's cgroup reports a new OOM kill. */
int agent_wait_oom(struct agent *a, agent_cancel_t cancel, char **container_id, veil_error_t *err);

/* sandbox.c */
int agent_create_sandbox(struct agent *a, const Grpc__CreateSandboxRequest *r, veil_error_t *err);
int agent_destroy_sandbox(struct agent *a, veil_error_t *err);
int agent_set_time(struct agent *a, int64_t sec, int64_t usec, veil_error_t *err);
int agent_guest_details(struct agent *a, const Grpc__GuestDetailsRequest *r,
                        Grpc__GuestDetailsResponse *resp, Grpc__AgentDetails *details,
                        veil_error_t *err);
void agent_guest_details_free(Grpc__GuestDetailsResponse *resp, Grpc__AgentDetails *details);

/* interfaces.c, routes.c, neighbors.c: the guest's network through netlink. Replies are
 * built from malloc'd parts, so protobuf_c_message_free_unpacked(m, NULL) frees them. */
int agent_update_interface(struct agent *a, const Types__Interface *req, Types__Interface **out,
                           veil_error_t *err);
int agent_list_interfaces(struct agent *a, Grpc__Interfaces **out, veil_error_t *err);
int agent_update_routes(struct agent *a, const Grpc__Routes *req, Grpc__Routes **out,
                        veil_error_t *err);
int agent_list_routes(struct agent *a, Grpc__Routes **out, veil_error_t *err);
int agent_add_arp_neighbors(struct agent *a, const Grpc__ARPNeighbors *req, veil_error_t *err);
/* Bring `lo` up (the guest's init, as kata-agent does in init mode). */
int agent_loopback_up(veil_error_t *err);

/* resolv.c: CreateSandbox's `dns` lines and `hostname`, checked before anything is done. */
int agent_check_dns(char *const *lines, size_t n, veil_error_t *err);
int agent_check_hostname(const char *hostname, veil_error_t *err);
/* Write resolv.conf (trimmed lines, blank ones dropped) to cfg.resolv_conf, the hostname to
 * cfg.hostname_file and sethostname(2) if cfg.set_hostname; unset paths are skipped. */
int agent_apply_dns(struct agent *a, char *const *lines, size_t n, veil_error_t *err);
int agent_apply_hostname(struct agent *a, const char *hostname, veil_error_t *err);

/* copyfile.c */
int agent_copy_file(struct agent *a, const Grpc__CopyFileRequest *r, veil_error_t *err);

#endif
