/* veil-webserver: the web server of critest's nginx images, rebuilt locally
 * (tests/integration/lib/critest_images.py). What critest checks of upstream's nginx: an HTTP
 * 200 on the port, a master process whose command line says "master process", whose name is
 * `nginx` (pidof) and whose pid is in /var/run/nginx.pid, and that SIGTERM stops it.
 *   nginx [-p PORT]     (installed as /usr/sbin/nginx; default port 80)
 * Static, so the image needs no libc; one connection at a time is enough for the tests. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SELF "/usr/sbin/nginx"

static const char reply[] = "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n"
                            "Content-Length: 44\r\nConnection: close\r\n\r\n"
                            "<html><body>Welcome to nginx!</body></html>\n";

static void on_terminate(int sig)
{
  (void)sig;
  unlink("/var/run/nginx.pid");
  _exit(0);
}

int main(int argc, char **argv)
{
  int port = 80;
  if (argc >= 3 && strcmp(argv[argc - 2], "-p") == 0)
    port = atoi(argv[argc - 1]);
  if (strstr(argv[0], "master process") == NULL) {
    /* nginx's master shows itself so in ps; the name (comm) stays `nginx` */
    char portbuf[16];
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    char *const args[] = {"nginx: master process " SELF, "-p", portbuf, NULL};
    execv(SELF, args);
    perror("execv " SELF);
    return 127;
  }
  signal(SIGTERM, on_terminate);
  signal(SIGINT, on_terminate);
  FILE *pidfile = fopen("/var/run/nginx.pid", "w");
  if (pidfile) {
    fprintf(pidfile, "%d\n", (int)getpid());
    fclose(pidfile);
  }
  int fd = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;
  struct sockaddr_in6 sa = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port),
                            .sin6_addr = IN6ADDR_ANY_INIT};
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) < 0 ||
      bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0) {
    perror("nginx: listen");
    return 1;
  }
  printf("nginx: listening on :%d\n", port);
  fflush(stdout);
  for (;;) {
    int c = accept(fd, NULL, NULL);
    if (c < 0) {
      if (errno == EINTR)
        continue;
      perror("nginx: accept");
      return 1;
    }
    char buf[4096];
    size_t n = 0;
    while (n < sizeof(buf) - 1) {
      ssize_t r = read(c, buf + n, sizeof(buf) - 1 - n);
      if (r <= 0)
        break;
      n += (size_t)r;
      buf[n] = '\0';
      if (strstr(buf, "\r\n\r\n"))
        break;
    }
    if (write(c, reply, sizeof(reply) - 1) < 0)
      perror("nginx: write");
    close(c);
  }
}
