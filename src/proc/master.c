/* The master process (see master.h). */
#include "livetally/proc/master.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/store/store.h"
#include "livetally/net/listen.h"
#include "livetally/proc/worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A worker that dies sooner than this after its start counts as crashing:
 * it is restarted after a growing delay instead of at once. */
#define LT_CRASH_WINDOW_MS 1000
#define LT_RESTART_DELAY_MAX_MS 5000
#define LT_READY_TIMEOUT_MS 30000

struct child {
    pid_t pid;
    int64_t started_ms;
    int64_t restart_at_ms; /* > 0: restart due then */
    int restart_delay_ms;
};

static volatile sig_atomic_t got_term, got_hup, got_chld;

static void on_signal(int sig)
{
    if (sig == SIGTERM || sig == SIGINT)
        got_term = 1;
    else if (sig == SIGHUP)
        got_hup = 1;
    else if (sig == SIGCHLD)
        got_chld = 1;
}

struct master {
    struct lt_config *cfg;
    pid_t pid;
    char instance[24]; /* random per master life: names the workers' online shares */
    int argc;
    char **argv;
    int n;
    int *fds;
    struct child *children;
    int ready_pipe[2];
};

static pid_t spawn(struct master *m, int i)
{
    pid_t pid = fork();
    if (pid < 0) {
        lt_error("master", "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* A worker whose master dies (even by SIGKILL) is told to stop as
         * after SIGTERM: it flushes and exits rather than live on unseen. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != m->pid)
            _exit(1); /* the master died before prctl took effect */
        /* The child keeps its own listening socket and the ready pipe. */
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        for (int k = 0; k < m->n; k++)
            if (k != i)
                close(m->fds[k]);
        if (m->ready_pipe[0] >= 0)
            close(m->ready_pipe[0]);
        struct lt_worker_args args = {
            .index = i,
            .instance = m->instance,
            .listen_fd = m->fds[i],
            .ready_fd = m->ready_pipe[1],
            .argc = m->argc,
            .argv = m->argv,
        };
        _exit(lt_worker_run(m->cfg, &args));
    }
    m->children[i].pid = pid;
    m->children[i].started_ms = lt_mono_ms();
    m->children[i].restart_at_ms = 0;
    lt_info("master", "worker %d started (pid %d)", i, (int)pid);
    return pid;
}

/* Reaps exited workers; schedules restarts unless shutting down. Returns
 * how many workers are still running. */
static int reap(struct master *m, bool shutting_down, int *exit_code)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (int i = 0; i < m->n; i++) {
            struct child *c = &m->children[i];
            if (c->pid != pid)
                continue;
            c->pid = 0;
            bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            /* A worker that crashed earlier was restarted and did its job;
             * only a failed shutdown (events not flushed) fails the exit. */
            if (!clean && shutting_down && exit_code)
                *exit_code = 1;
            if (shutting_down) {
                lt_info("master", "worker %d exited (%s %d)", i,
                        WIFEXITED(status) ? "status" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
                break;
            }
            int64_t now = lt_mono_ms();
            bool crashing = now - c->started_ms < LT_CRASH_WINDOW_MS;
            c->restart_delay_ms =
                crashing ? (c->restart_delay_ms ? c->restart_delay_ms * 2 : 100) : 0;
            if (c->restart_delay_ms > LT_RESTART_DELAY_MAX_MS)
                c->restart_delay_ms = LT_RESTART_DELAY_MAX_MS;
            c->restart_at_ms = now + c->restart_delay_ms;
            lt_error("master", "worker %d (pid %d) died (%s %d); restarting in %d ms", i,
                     (int)pid, WIFEXITED(status) ? "status" : "signal",
                     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                     c->restart_delay_ms);
            /* Its viewers' sockets died with it: take its share of online
             * out now rather than when the share expires. */
            char field[64]; /* 12 hex digits, ".", an index <= 256 */
            snprintf(field, sizeof field, "%s.%d", m->instance, i);
            int dropped = lt_store_drop_online_share(m->cfg, field);
            if (dropped > 0)
                lt_info("master", "removed worker %d's online share from %d streams", i, dropped);
        }
    }
    int running = 0;
    for (int i = 0; i < m->n; i++)
        running += m->children[i].pid > 0;
    return running;
}

static void forward(struct master *m, int sig)
{
    for (int i = 0; i < m->n; i++)
        if (m->children[i].pid > 0)
            kill(m->children[i].pid, sig);
}

int lt_master_run(struct lt_config *cfg, int argc, char **argv)
{
    lt_log_set_process("master");
    struct master m;
    memset(&m, 0, sizeof m);
    m.cfg = cfg;
    m.pid = getpid();
    m.argc = argc;
    m.argv = argv;
    m.n = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (m.n < 1)
        m.n = 1;
    unsigned char rnd[6];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        memset(rnd, 0, sizeof rnd);
    /* 12 hex digits in instance's 24 bytes. */
    static const char hex[] = "0123456789abcdef";
    struct lt_strbuf inst;
    lt_strbuf_init_fixed(&inst, m.instance, sizeof m.instance);
    for (size_t k = 0; k < sizeof rnd; k++) {
        lt_strbuf_add_char(&inst, hex[rnd[k] >> 4]);
        lt_strbuf_add_char(&inst, hex[rnd[k] & 15]);
    }
    m.fds = lt_calloc((size_t)m.n, sizeof *m.fds);
    m.children = lt_calloc((size_t)m.n, sizeof *m.children);
    int port;
    char err[256]; /* listen errors: single snprintfs, cut short when long */
    if (lt_listen_sockets(cfg->listen_host, cfg->listen_port, m.n, m.fds, &port, err,
                          sizeof err) != 0) {
        fprintf(stderr, "livetally: %s\n", err);
        return 1;
    }
    if (lt_metrics_init_shared(m.n) != 0 || pipe2(m.ready_pipe, O_CLOEXEC) != 0) {
        fprintf(stderr, "livetally: cannot set up workers: %s\n", strerror(errno));
        return 1;
    }

    /* Signals are blocked except while waiting in ppoll, so no wake-up is
     * lost between checking the flags and sleeping. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigset_t block, waitmask;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    sigaddset(&block, SIGCHLD);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    sigdelset(&waitmask, SIGTERM);
    sigdelset(&waitmask, SIGINT);
    sigdelset(&waitmask, SIGHUP);
    sigdelset(&waitmask, SIGCHLD);

    for (int i = 0; i < m.n; i++)
        spawn(&m, i);
    /* Restarted workers have nobody to tell: they get ready_fd -1. */
    close(m.ready_pipe[1]);
    m.ready_pipe[1] = -1;

    int ready = 0;
    bool announced = false;
    int64_t ready_deadline = lt_mono_ms() + LT_READY_TIMEOUT_MS;
    int exit_code = 0;
    int64_t term_deadline = 0;
    for (;;) {
        if (got_chld) {
            got_chld = 0;
            int running = reap(&m, term_deadline > 0, &exit_code);
            if (term_deadline > 0 && running == 0)
                break;
        }
        if (got_term && term_deadline == 0) {
            lt_info("master", "SIGTERM: stopping workers");
            forward(&m, SIGTERM);
            /* Workers flush within shutdown_timeout_ms; then they are killed. */
            term_deadline = lt_mono_ms() + m.cfg->shutdown_timeout_ms + 2000;
        }
        if (got_hup) {
            got_hup = 0;
            struct lt_config check;
            struct lt_cli cli;
            memset(&check, 0, sizeof check);
            if (lt_config_load_args(&check, &cli, argc, argv, err, sizeof err) != 0)
                lt_error("master", "SIGHUP: config has errors, workers keep the old one: %s",
                         err);
            else
                forward(&m, SIGHUP);
            lt_config_free(&check);
        }
        int64_t now = lt_mono_ms();
        if (term_deadline > 0 && now >= term_deadline) {
            lt_error("master", "workers did not stop in time; killing them");
            forward(&m, SIGKILL);
            exit_code = 1;
            term_deadline = now + 1000;
        }
        if (term_deadline == 0) {
            for (int i = 0; i < m.n; i++)
                if (m.children[i].pid == 0 && m.children[i].restart_at_ms <= now)
                    spawn(&m, i);
        }
        int timeout = 100;
        struct pollfd pfd = {announced ? -1 : m.ready_pipe[0], POLLIN, 0};
        struct timespec ts = {0, timeout * 1000000L};
        int pr = ppoll(&pfd, 1, &ts, &waitmask);
        if (pr > 0 && !announced && (pfd.revents & (POLLIN | POLLHUP))) {
            char buf[64]; /* read and counted: read takes at most sizeof buf */
            ssize_t r = read(m.ready_pipe[0], buf, sizeof buf);
            if (r > 0)
                ready += (int)r;
            if (ready >= m.n) {
                printf("livetally ready on http://%s%s%s:%d\n",
                       strchr(cfg->listen_host, ':') ? "[" : "", cfg->listen_host,
                       strchr(cfg->listen_host, ':') ? "]" : "", port);
                fflush(stdout);
                announced = true;
                close(m.ready_pipe[0]);
                m.ready_pipe[0] = -1;
            } else if (r == 0) {
                lt_error("master", "workers exited before they were ready");
                forward(&m, SIGKILL);
                return 1;
            }
        }
        if (!announced && lt_mono_ms() > ready_deadline) {
            lt_error("master", "workers not ready after %d ms", LT_READY_TIMEOUT_MS);
            forward(&m, SIGKILL);
            return 1;
        }
    }
    lt_info("master", "all workers stopped; exiting with %d", exit_code);
    lt_free(m.fds);
    lt_free(m.children);
    return exit_code;
}
