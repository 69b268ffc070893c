/* veil-pause: the sandbox ("pause") container's process for the integration tests' local
 * pause image. Built statically so the image needs no libc: it sleeps until SIGTERM/SIGINT,
 * reaping any children (it may be PID 1 of a pod's PID namespace). */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_terminate(int sig)
{
  (void)sig;
  _exit(0);
}

static void on_child(int sig)
{
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

int main(void)
{
  struct sigaction term = { .sa_handler = on_terminate };
  struct sigaction chld = { .sa_handler = on_child, .sa_flags = SA_NOCLDSTOP | SA_RESTART };
  sigemptyset(&term.sa_mask);
  sigemptyset(&chld.sa_mask);
  if (sigaction(SIGTERM, &term, NULL) < 0 || sigaction(SIGINT, &term, NULL) < 0 ||
      sigaction(SIGCHLD, &chld, NULL) < 0)
    return 1;
  for (;;)
    pause();
}
