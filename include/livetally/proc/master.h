/* The master process: creates the listening sockets before forking (one per
 * worker, SO_REUSEPORT, the first bound to the asked port and the others to
 * the port it got), forks the workers, prints the ready line once they all
 * run, restarts a worker that dies, and forwards SIGTERM and SIGHUP. */
#ifndef LIVETALLY_MASTER_H
#define LIVETALLY_MASTER_H

struct lt_config;

/* Returns the process exit code. */
int lt_master_run(struct lt_config *cfg, int argc, char **argv);

#endif
