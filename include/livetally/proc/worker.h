/* A worker process: one libevent loop serving HTTP on its own listening
 * socket, with its own Redis connections, deltas and caches.
 *
 * The master talks to it over its control socket (one end of a socketpair
 * made before the fork) in frames: a 4-byte big-endian length, then that
 * many bytes whose first byte says what follows (LT_CTL_*). */
#ifndef LIVETALLY_WORKER_H
#define LIVETALLY_WORKER_H

#include <stddef.h>

struct lt_config;

/* 'C' PATH '\0' JSON: a new config (lt_config_to_json's text, already
 * checked by the master; PATH names the file in messages). */
#define LT_CTL_CONFIG 'C'
/* 'D' FIELD: remove a dead worker's online share FIELD from Redis. */
#define LT_CTL_DROP_SHARE 'D'
/* Largest frame: a config file is at most 4 MB (config.c). */
#define LT_CTL_MAX_FRAME (8u << 20)

struct lt_worker_args {
    int index;                /* 0..workers-1: metrics slot and log tag */
    const char *online_field; /* "<instance>.<index>.<generation>": names this
                               * process' online shares in Redis */
    int listen_fd;            /* bound and listening, made by the master */
    int ready_fd;             /* one byte is written here once the loop runs; -1: nobody waits */
    int control_fd;           /* the master's frames arrive here */
    const char *spool_owner;  /* "<instance>-w<index>-g<generation>": names this
                               * process' spool files (spool.h) */
    char *const *inherit;     /* spool owners whose files it takes over before
                               * serving (replays, then deletes them) */
    size_t n_inherit;
};

/* Runs until SIGTERM has been handled; returns the process exit code. Call it
 * with SIGTERM, SIGINT and SIGHUP blocked: it unblocks them once its loop has
 * their handlers, so one sent during start-up is not lost or fatal. cfg is
 * the master's current snapshot (config.h): the worker takes its own
 * reference and replaces it when the master sends a new config. */
int lt_worker_run(const struct lt_config *cfg, const struct lt_worker_args *args);

#endif
