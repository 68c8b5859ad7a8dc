/* The sandbox ("pause") image's only program: it holds a pod's namespaces
 * open, reaps orphaned children, and exits on SIGINT/SIGTERM. The local real
 * node builds it statically (hack/images.sh), since no registry is reachable. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) {
  (void)sig;
  _exit(0);
}

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, 0, WNOHANG) > 0) {
  }
}

int main(void) {
  signal(SIGINT, stop);
  signal(SIGTERM, stop);
  signal(SIGCHLD, reap);
  for (;;) pause();
}
