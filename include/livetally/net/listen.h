/* The listening sockets of the workers, made by the master before it forks:
 * one per worker with SO_REUSEPORT, the first bound to the asked port (0
 * included) and the others to the port it got, so one port serves them all
 * and the kernel spreads connections across the workers. */
#ifndef LIVETALLY_LISTEN_H
#define LIVETALLY_LISTEN_H

/* Opens n listening sockets on host:port as above; fds[] receives them and
 * *bound_port the real port. Returns 0, or LT_EIO with a message in err. */
int lt_listen_sockets(const char *host, int port, int n, int *fds, int *bound_port, char *err,
                      unsigned long errlen);

#endif
