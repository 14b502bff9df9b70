/* The master process: creates the listening sockets before forking (one per
 * worker, SO_REUSEPORT, the first bound to the asked port and the others to
 * the port it got), forks the workers, prints the ready line once they all
 * run, restarts a worker that dies (with the current config), forwards
 * SIGTERM, and on SIGHUP reloads the config and sends it to every worker over
 * its control socket (worker.h). It does no Redis I/O: a dead worker's
 * online share is removed by a live worker. */
#ifndef LIVETALLY_MASTER_H
#define LIVETALLY_MASTER_H

struct lt_config;

/* cfg: the loaded config as a snapshot (config.h); the master takes its own
 * reference. argc/argv: the command line, read again on SIGHUP. Returns the
 * process exit code. */
int lt_master_run(const struct lt_config *cfg, int argc, char **argv);

#endif
