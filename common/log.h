/* logfmt-style logging: `time=... level=info msg="..." key=value` on stderr
 * (the shim's stderr is containerd's log fifo; the agent's is the console). */
#ifndef VEIL_COMMON_LOG_H
#define VEIL_COMMON_LOG_H

#include "error.h"

enum veil_log_level { VEIL_LOG_DEBUG = 0, VEIL_LOG_INFO, VEIL_LOG_WARN, VEIL_LOG_ERROR };

void veil_log_set_level(enum veil_log_level level);
enum veil_log_level veil_log_get_level(void);
/* A component name added as `component=...` (e.g. "shim", "agent"). */
void veil_log_set_component(const char *component);

void veil_log(enum veil_log_level level, const char *fmt, ...) VEIL_PRINTF(2, 3);
/* Log an error object at `level` with a prefix; does not release it. */
void veil_log_error(enum veil_log_level level, const struct veil_error_s *e, const char *fmt, ...)
    VEIL_PRINTF(3, 4);

#define log_debug(...) do { if (veil_log_get_level() <= VEIL_LOG_DEBUG) veil_log(VEIL_LOG_DEBUG, __VA_ARGS__); } while (0)
#define log_info(...) veil_log(VEIL_LOG_INFO, __VA_ARGS__)
#define log_warn(...) veil_log(VEIL_LOG_WARN, __VA_ARGS__)
#define log_error(...) veil_log(VEIL_LOG_ERROR, __VA_ARGS__)

#endif
