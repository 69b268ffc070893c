#ifndef VEIL_SHIM_TIMEUTIL_H
#define VEIL_SHIM_TIMEUTIL_H
#include <time.h>

/* now + ms on CLOCK_REALTIME, for pthread_cond_timedwait */
static inline struct timespec veil_deadline_realtime(int ms)
{
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  t.tv_sec += ms / 1000;
  t.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (t.tv_nsec >= 1000000000L) {
    t.tv_sec++;
    t.tv_nsec -= 1000000000L;
  }
  return t;
}

#endif
