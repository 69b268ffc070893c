/* struct timespec (CLOCK_REALTIME) <-> google.protobuf.Timestamp, as containerd sends them. */
#ifndef VEIL_SHIM_TIMESTAMP_H
#define VEIL_SHIM_TIMESTAMP_H

#include <time.h>
#include "google/protobuf/timestamp.pb-c.h"

static inline Google__Protobuf__Timestamp shim_timestamp(const struct timespec *t)
{
  Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
  ts.seconds = t->tv_sec;
  ts.nanos = (int32_t)t->tv_nsec;
  return ts;
}

static inline Google__Protobuf__Timestamp shim_timestamp_now(void)
{
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return shim_timestamp(&now);
}

#endif
