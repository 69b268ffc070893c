/* veil's typed client for the Kata agent API (services grpc.AgentService and grpc.Health,
 * proto/agent.proto, proto/health.proto) over ttrpc.
 *
 * Each RPC function takes the protobuf-c request struct and, for RPCs with a non-Empty
 * response, returns the unpacked response through `resp` (free it with the matching
 * grpc__..._free_unpacked(resp, NULL)). All functions return 0 or -1 with *err set.
 *
 * Timeouts per call follow kata's runtime: Check/Version 30 s, WaitProcess, ReadStdout,
 * ReadStderr and GetOOMEvent none (they block until something happens), everything else
 * 60 s; RemoveContainer with a non-zero request timeout waits that long plus 10 s.
 * Unlike kata, WriteStdin has none either: the agent blocks until the process' stdin pipe
 * has room, which may take any time, and a timed-out write would drop data.
 *
 * The guest is untrusted by the host, so every response is bounded: a response larger than
 * the RPC's limit, one that does not unpack, ReadStdout/ReadStderr data longer than the
 * requested len, or a WriteStdin len larger than the data sent fails with DATA_LOSS and a
 * message naming the RPC ("agent ReadStdout: ..."). Errors from the agent keep their gRPC
 * code (veil_error_grpc_code) and are prefixed with the RPC name.
 *
 * Thread-safe: any number of threads may call concurrently on one veil_agent (calls are
 * multiplexed on the ttrpc connection), e.g. one thread blocked in WaitProcess while another
 * reads stdout. */
#ifndef VEIL_VSOCK_AGENT_CLIENT_H
#define VEIL_VSOCK_AGENT_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "agent.pb-c.h"
#include "common/error.h"
#include "health.pb-c.h"
#include "ttrpc/ttrpc.h"

enum veil_agent_rpc {
  VEIL_AGENT_CHECK,
  VEIL_AGENT_VERSION,
  VEIL_AGENT_CREATE_SANDBOX,
  VEIL_AGENT_DESTROY_SANDBOX,
  VEIL_AGENT_CREATE_CONTAINER,
  VEIL_AGENT_START_CONTAINER,
  VEIL_AGENT_REMOVE_CONTAINER,
  VEIL_AGENT_EXEC_PROCESS,
  VEIL_AGENT_SIGNAL_PROCESS,
  VEIL_AGENT_WAIT_PROCESS,
  VEIL_AGENT_READ_STDOUT,
  VEIL_AGENT_READ_STDERR,
  VEIL_AGENT_WRITE_STDIN,
  VEIL_AGENT_CLOSE_STDIN,
  VEIL_AGENT_TTY_WIN_RESIZE,
  VEIL_AGENT_PAUSE_CONTAINER,
  VEIL_AGENT_RESUME_CONTAINER,
  VEIL_AGENT_STATS_CONTAINER,
  VEIL_AGENT_UPDATE_CONTAINER,
  VEIL_AGENT_GET_GUEST_DETAILS,
  VEIL_AGENT_SET_GUEST_DATE_TIME,
  VEIL_AGENT_SET_POLICY,
  VEIL_AGENT_GET_OOM_EVENT,
  VEIL_AGENT_COPY_FILE,
  VEIL_AGENT_UPDATE_INTERFACE,
  VEIL_AGENT_UPDATE_ROUTES,
  VEIL_AGENT_ADD_ARP_NEIGHBORS,
  VEIL_AGENT_LIST_INTERFACES,
  VEIL_AGENT_LIST_ROUTES,
  VEIL_AGENT_RPC_COUNT,
};

/* Largest ReadStdout/ReadStderr len the client accepts to ask for (kata uses 32 KiB). */
#define VEIL_AGENT_MAX_READ_LEN (1024u * 1024)

/* What a network reply (types.Interface, Interfaces, Routes) may hold; more is DATA_LOSS.
 * Strings: link names IFNAMSIZ-1, hardware addresses 32 bytes as colon hex, addresses an
 * IPv6 CIDR, free text (device, devicePath, type) VEIL_AGENT_MAX_NET_TEXT. */
#define VEIL_AGENT_MAX_INTERFACES 256
#define VEIL_AGENT_MAX_INTERFACE_ADDRS 256
#define VEIL_AGENT_MAX_ROUTES 4096
#define VEIL_AGENT_MAX_NET_TEXT 256

typedef struct veil_agent veil_agent;

/* Returns false when the caller should stop waiting (e.g. the VM process exited). */
typedef bool (*veil_agent_alive_fn)(void *user);

/* Connect to `address` (ttrpc/address.h syntax) within connect_timeout_ms; no RPC is made. */
veil_agent *veil_agent_dial(const char *address, int connect_timeout_ms, veil_error_t *err);

/* Connect and wait until the agent answers Check with SERVING, for at most timeout_ms.
 * Connect failures are retried (the socket may not exist yet) and Check is retried with a
 * 500 ms per-call timeout on the same connection, because on virtio-serial the host side
 * connects before the guest agent opens its port (requests queue until it does). `alive`
 * (may be NULL) is polled between attempts: when it returns false the wait ends at once with
 * UNAVAILABLE. Timeout: DEADLINE_EXCEEDED naming the address and the last error. */
veil_agent *veil_agent_dial_ready(const char *address, int timeout_ms, veil_agent_alive_fn alive,
                                  void *alive_user, veil_error_t *err);

/* Wrap an existing ttrpc client (takes ownership). Never fails except on ENOMEM. */
veil_agent *veil_agent_new(ttrpc_client *client, veil_error_t *err);

/* Timeout for one RPC in ns, 0 = none (a fixed table, docs/guest.md). */
int64_t veil_agent_default_timeout_ns(enum veil_agent_rpc rpc);
/* Largest response (packed bytes) accepted for `rpc` (ReadStdout/ReadStderr: requested len
 * plus framing). */
size_t veil_agent_response_limit(enum veil_agent_rpc rpc);
/* "Check", "CreateContainer", ... */
const char *veil_agent_rpc_name(enum veil_agent_rpc rpc);

/* True once the connection is gone (agent or VM died). */
bool veil_agent_closed(veil_agent *a);
/* Close the connection: blocked calls fail with UNAVAILABLE. Thread-safe. */
void veil_agent_close(veil_agent *a);
/* Close (if open) and free. NULL is allowed. */
void veil_agent_free(veil_agent *a);
/* Record every request from now on as a JSON line on fd (taken; -1 = stop): see
 * request_log.h. Call before other threads use the client. */
void veil_agent_log_requests(veil_agent *a, int fd);

/* ---- grpc.Health ---- */
int veil_agent_check(veil_agent *a, const Grpc__CheckRequest *req,
                     Grpc__HealthCheckResponse **resp, veil_error_t *err);
int veil_agent_version(veil_agent *a, const Grpc__CheckRequest *req,
                       Grpc__VersionCheckResponse **resp, veil_error_t *err);

/* ---- grpc.AgentService: sandbox ---- */
int veil_agent_create_sandbox(veil_agent *a, const Grpc__CreateSandboxRequest *req,
                              veil_error_t *err);
int veil_agent_destroy_sandbox(veil_agent *a, const Grpc__DestroySandboxRequest *req,
                               veil_error_t *err);
int veil_agent_get_guest_details(veil_agent *a, const Grpc__GuestDetailsRequest *req,
                                 Grpc__GuestDetailsResponse **resp, veil_error_t *err);
int veil_agent_set_guest_date_time(veil_agent *a, const Grpc__SetGuestDateTimeRequest *req,
                                   veil_error_t *err);
int veil_agent_set_policy(veil_agent *a, const Grpc__SetPolicyRequest *req, veil_error_t *err);
int veil_agent_copy_file(veil_agent *a, const Grpc__CopyFileRequest *req, veil_error_t *err);
/* Long poll: returns when a container hits OOM (no timeout). */
int veil_agent_get_oom_event(veil_agent *a, const Grpc__GetOOMEventRequest *req,
                             Grpc__OOMEvent **resp, veil_error_t *err);

/* ---- network (kata's order before CreateSandbox: UpdateInterface per NIC, UpdateRoutes,
 * AddARPNeighbors). 60 s each. Replies are checked against the VEIL_AGENT_MAX_* bounds
 * above (counts and every string's length): DATA_LOSS naming the field otherwise. The
 * agent answers an unknown MAC with NOT_FOUND "Link not found" (kata's runtime retries
 * that while a NIC appears; this client does not retry). ---- */
/* resp: the interface as the guest now has it. */
int veil_agent_update_interface(veil_agent *a, const Grpc__UpdateInterfaceRequest *req,
                                Types__Interface **resp, veil_error_t *err);
/* resp: every route of the guest's main table after the update. */
int veil_agent_update_routes(veil_agent *a, const Grpc__UpdateRoutesRequest *req,
                             Grpc__Routes **resp, veil_error_t *err);
int veil_agent_add_arp_neighbors(veil_agent *a, const Grpc__AddARPNeighborsRequest *req,
                                 veil_error_t *err);
int veil_agent_list_interfaces(veil_agent *a, const Grpc__ListInterfacesRequest *req,
                               Grpc__Interfaces **resp, veil_error_t *err);
int veil_agent_list_routes(veil_agent *a, const Grpc__ListRoutesRequest *req, Grpc__Routes **resp,
                           veil_error_t *err);
/* The bound checks applied to those replies (for the fuzz target); `rpc` names the call in
 * the error. 0 or -1 with DATA_LOSS. */
int veil_agent_check_interface(const char *rpc, const Types__Interface *it, veil_error_t *err);
int veil_agent_check_interfaces(const char *rpc, const Grpc__Interfaces *list, veil_error_t *err);
int veil_agent_check_routes(const char *rpc, const Grpc__Routes *routes, veil_error_t *err);

/* ---- containers and processes ---- */
int veil_agent_create_container(veil_agent *a, const Grpc__CreateContainerRequest *req,
                                veil_error_t *err);
int veil_agent_start_container(veil_agent *a, const Grpc__StartContainerRequest *req,
                               veil_error_t *err);
int veil_agent_remove_container(veil_agent *a, const Grpc__RemoveContainerRequest *req,
                                veil_error_t *err);
int veil_agent_exec_process(veil_agent *a, const Grpc__ExecProcessRequest *req,
                            veil_error_t *err);
int veil_agent_signal_process(veil_agent *a, const Grpc__SignalProcessRequest *req,
                              veil_error_t *err);
/* Blocks until the process exits (no timeout); resp->status is the exit code or 128+signal. */
int veil_agent_wait_process(veil_agent *a, const Grpc__WaitProcessRequest *req,
                            Grpc__WaitProcessResponse **resp, veil_error_t *err);
int veil_agent_pause_container(veil_agent *a, const Grpc__PauseContainerRequest *req,
                               veil_error_t *err);
int veil_agent_resume_container(veil_agent *a, const Grpc__ResumeContainerRequest *req,
                                veil_error_t *err);
int veil_agent_stats_container(veil_agent *a, const Grpc__StatsContainerRequest *req,
                               Grpc__StatsContainerResponse **resp, veil_error_t *err);
int veil_agent_update_container(veil_agent *a, const Grpc__UpdateContainerRequest *req,
                                veil_error_t *err);

/* ---- stdio ---- */
/* Block until data (no timeout); req->len must be 1..VEIL_AGENT_MAX_READ_LEN.
 * resp->data.len == 0 means end of stream. */
int veil_agent_read_stdout(veil_agent *a, const Grpc__ReadStreamRequest *req,
                           Grpc__ReadStreamResponse **resp, veil_error_t *err);
int veil_agent_read_stderr(veil_agent *a, const Grpc__ReadStreamRequest *req,
                           Grpc__ReadStreamResponse **resp, veil_error_t *err);
/* May accept fewer bytes than sent (resp->len): loop, or use veil_agent_write_stdin_all. */
int veil_agent_write_stdin(veil_agent *a, const Grpc__WriteStreamRequest *req,
                           Grpc__WriteStreamResponse **resp, veil_error_t *err);
/* Write all `len` bytes to a process's stdin (loops over partial writes). */
int veil_agent_write_stdin_all(veil_agent *a, const char *container_id, const char *exec_id,
                               const void *data, size_t len, veil_error_t *err);
int veil_agent_close_stdin(veil_agent *a, const Grpc__CloseStdinRequest *req, veil_error_t *err);
int veil_agent_tty_win_resize(veil_agent *a, const Grpc__TtyWinResizeRequest *req,
                              veil_error_t *err);

#endif
