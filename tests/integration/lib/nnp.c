/* veil-nnp: the program of critest's no-new-privileges image (upstream's
 * e2e-test-images/nonewprivs), installed setuid root in the locally built image: it prints
 * the effective uid it runs with, 0 when the setuid bit took effect, the caller's uid when
 * no_new_privs stopped it. Static, so the image needs no libc. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
  printf("Effective uid: %d\n", (int)geteuid());
  return 0;
}
