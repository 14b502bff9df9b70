/* A worker process: one libevent loop serving HTTP on its own listening
 * socket, with its own Redis connections, deltas and caches. */
#ifndef LIVETALLY_WORKER_H
#define LIVETALLY_WORKER_H

struct lt_config;

struct lt_worker_args {
    int index;            /* 0..workers-1: metrics slot and log tag */
    const char *instance; /* the master's random id: names online shares */
    int listen_fd; /* bound and listening, made by the master */
    int ready_fd;  /* one byte is written here once the loop runs */
    int argc;      /* the command line, to reload the config on SIGHUP */
    char **argv;
};

/* Runs until SIGTERM has been handled; returns the process exit code. cfg is
 * the config loaded by the master before the fork; the worker owns it. */
int lt_worker_run(struct lt_config *cfg, const struct lt_worker_args *args);

#endif
