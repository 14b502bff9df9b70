/* The listening sockets of the workers, made by the master before it forks:
 * one per worker with SO_REUSEPORT, the first bound to the asked port (0
 * included) and the others to the port it got, so one port serves them all
 * and the kernel spreads connections across the workers.
 *
 * Each socket is held by two processes: its worker and the master (which
 * hands it to the worker's replacement after a crash). A socket stays in
 * the port's group, and takes connections into its queue, until both have
 * closed it: at SIGTERM the master closes its copies and each worker its
 * own when it starts draining, so that the port refuses connections at
 * once while the workers still flush. */
#ifndef LIVETALLY_LISTEN_H
#define LIVETALLY_LISTEN_H

/* Opens n listening sockets on host:port as above; fds[] receives them and
 * *bound_port the real port. Returns 0, or LT_EIO with a message in err. */
int lt_listen_sockets(const char *host, int port, int n, int *fds, int *bound_port, char *err,
                      unsigned long errlen);

#endif
