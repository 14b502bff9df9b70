/* The master process (see master.h). */
#include "livetally/proc/master.h"

#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/base/metrics.h"
#include "livetally/base/strbuf.h"
#include "livetally/conf/config.h"
#include "livetally/net/listen.h"
#include "livetally/proc/worker.h"
#include "livetally/spool/spool_replay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
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
    unsigned generation;   /* how many times this slot was started */
    char online_field[64]; /* "<instance>.<slot>.<generation>" */
    char spool_owner[64];  /* "<instance>-w<slot>-g<generation>" */
    char **inherited;      /* spool owners handed to it at its start */
    size_t n_inherited;
    int control_fd;        /* our end of its control socket; -1 when none */
    char *out;             /* frames not written to control_fd yet */
    size_t out_len, out_off;
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
    const struct lt_config *cfg; /* the current snapshot: our reference */
    pid_t pid;
    char instance[24]; /* random per master life: names the workers' online shares */
    int argc;
    char **argv;
    int n;
    int *fds;
    struct child *children;
    int ready_pipe[2];
    struct pollfd *pfds; /* room for the ready pipe and every control socket */
    char **drops;        /* dead workers' online shares no live worker was told of yet */
    size_t n_drops;
    char **orphans; /* spool owners no live worker holds (spool.h: handover) */
    size_t n_orphans;
    int spool_lock; /* flock on <spool.dir>/LOCK, inherited by the workers */
};

/* ---- the spool directory and its owners -------------------------------- */

static void add_orphan(struct master *m, const char *owner)
{
    for (size_t k = 0; k < m->n_orphans; k++)
        if (strcmp(m->orphans[k], owner) == 0)
            return;
    m->orphans = lt_realloc(m->orphans, (m->n_orphans + 1) * sizeof *m->orphans);
    m->orphans[m->n_orphans++] = lt_strdup(owner);
}

/* mkdir -p with 0700; the lock that keeps a second livetally out, held
 * until the master and every worker are gone (the workers inherit it). */
static int open_spool_dir(struct master *m, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    int n = snprintf(path, sizeof path, "%s", dir);
    if (n <= 0 || (size_t)n >= sizeof path - 8) {
        snprintf(err, errlen, "spool.dir %s: the path is too long", dir);
        return -1;
    }
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            snprintf(err, errlen, "spool.dir %s: cannot create %s: %s", dir, path, strerror(errno));
            return -1;
        }
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "spool.dir %s: cannot create it: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/LOCK", dir);
    m->spool_lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (m->spool_lock < 0) {
        snprintf(err, errlen, "spool.dir %s: cannot open %s: %s", dir, path, strerror(errno));
        return -1;
    }
    if (flock(m->spool_lock, LOCK_EX | LOCK_NB) != 0) {
        snprintf(err, errlen,
                 "spool.dir %s is in use by another livetally (%s is locked); give each "
                 "livetally its own spool.dir",
                 dir, path);
        return -1;
    }
    /* A previous run's owners: every one of them is handed to the first
     * worker started. */
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "spool.dir %s: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *e;
    char owner[LT_SPOOL_OWNER_MAX + 1];
    unsigned seg;
    while ((e = readdir(d)))
        if (lt_spool_parse_name(e->d_name, owner, &seg))
            add_orphan(m, owner);
    closedir(d);
    return 0;
}

/* The owners still to hand over whose files exist (a successor that
 * finished its replay deleted its predecessors' files). */
static void hand_over(struct master *m, struct child *me, int slot)
{
    for (size_t k = 0; k < me->n_inherited; k++)
        lt_free(me->inherited[k]);
    lt_free(me->inherited);
    me->inherited = NULL;
    me->n_inherited = 0;
    for (size_t k = 0; k < m->n_orphans; k++) {
        unsigned *segs;
        int n = lt_spool_segments(m->cfg->spool_dir, m->orphans[k], &segs);
        lt_free(segs);
        if (n <= 0) {
            lt_free(m->orphans[k]);
            continue;
        }
        lt_info("master", "worker %d takes over the spool of %s", slot, m->orphans[k]);
        me->inherited = lt_realloc(me->inherited, (me->n_inherited + 1) * sizeof *me->inherited);
        me->inherited[me->n_inherited++] = m->orphans[k];
    }
    lt_free(m->orphans);
    m->orphans = NULL;
    m->n_orphans = 0;
}

/* Queues one control frame for a worker; written by flush_control without
 * ever blocking the master (a worker that stops reading only grows its own
 * queue, and loses it when it dies). */
static void queue_frame(struct child *c, char type, const char *a, size_t alen, const char *b,
                        size_t blen)
{
    if (c->pid <= 0 || c->control_fd < 0)
        return;
    uint32_t len = (uint32_t)(1 + alen + blen);
    uint32_t len_be = htonl(len);
    size_t need = c->out_len + sizeof len_be + len;
    c->out = lt_realloc(c->out, need);
    memcpy(c->out + c->out_len, &len_be, sizeof len_be);
    c->out[c->out_len + sizeof len_be] = type;
    memcpy(c->out + c->out_len + sizeof len_be + 1, a, alen);
    if (blen)
        memcpy(c->out + c->out_len + sizeof len_be + 1 + alen, b, blen);
    c->out_len = need;
}

static void flush_control(struct child *c)
{
    while (c->control_fd >= 0 && c->out_off < c->out_len) {
        ssize_t n = send(c->control_fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EAGAIN: the next POLLOUT; EPIPE: it died, reap() cleans up */
        c->out_off += (size_t)n;
    }
    if (c->out_off == c->out_len) {
        lt_free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
    }
}

static void close_control(struct child *c)
{
    if (c->control_fd >= 0)
        close(c->control_fd);
    c->control_fd = -1;
    lt_free(c->out);
    c->out = NULL;
    c->out_len = c->out_off = 0;
}

/* A dead worker's share of online is removed by a live worker, over its
 * own non-blocking Redis connection: the master never waits on Redis. When
 * no worker runs (one worker, restarting), the share waits for the next one. */
static void hand_out_drops(struct master *m)
{
    struct child *to = NULL;
    for (int i = 0; i < m->n && !to; i++)
        if (m->children[i].pid > 0 && m->children[i].control_fd >= 0)
            to = &m->children[i];
    if (!to || m->n_drops == 0)
        return;
    for (size_t k = 0; k < m->n_drops; k++) {
        queue_frame(to, LT_CTL_DROP_SHARE, m->drops[k], strlen(m->drops[k]), NULL, 0);
        lt_info("master", "asked worker %d to remove online share %s", (int)(to - m->children),
                m->drops[k]);
        lt_free(m->drops[k]);
    }
    m->n_drops = 0;
    flush_control(to);
}

static pid_t spawn(struct master *m, int i)
{
    struct child *me = &m->children[i];
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        lt_error("master", "socketpair: %s", strerror(errno));
        me->restart_at_ms = lt_mono_ms() + 1000;
        return -1;
    }
    me->generation++;
    snprintf(me->online_field, sizeof me->online_field, "%s.%d.%u", m->instance, i, me->generation);
    snprintf(me->spool_owner, sizeof me->spool_owner, "%s-w%d-g%u", m->instance, i, me->generation);
    hand_over(m, me, i);
    pid_t pid = fork();
    if (pid < 0) {
        lt_error("master", "fork: %s", strerror(errno));
        close(sv[0]);
        close(sv[1]);
        me->restart_at_ms = lt_mono_ms() + 1000;
        /* What it was to take over waits for the next start. */
        for (size_t k = 0; k < me->n_inherited; k++)
            add_orphan(m, me->inherited[k]);
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
        /* SIGTERM, SIGINT and SIGHUP stay blocked (as in the master) until
         * the worker's loop has its handlers (lt_worker_run unblocks them):
         * one that comes while the worker starts waits instead of killing
         * it with the default action. */
        sigset_t mask;
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_SETMASK, &mask, NULL);
        for (int k = 0; k < m->n; k++) {
            if (k != i)
                close(m->fds[k]);
            if (m->children[k].control_fd >= 0)
                close(m->children[k].control_fd);
        }
        close(sv[0]);
        if (m->ready_pipe[0] >= 0)
            close(m->ready_pipe[0]);
        struct lt_worker_args args = {
            .index = i,
            .online_field = me->online_field,
            .listen_fd = m->fds[i],
            .ready_fd = m->ready_pipe[1],
            .control_fd = sv[1],
            .spool_owner = me->spool_owner,
            .inherit = me->inherited,
            .n_inherit = me->n_inherited,
        };
        /* m->cfg is the current snapshot: a worker restarted after a reload
         * runs the reloaded config. */
        _exit(lt_worker_run(m->cfg, &args));
    }
    close(sv[1]);
    me->control_fd = sv[0];
    me->pid = pid;
    me->started_ms = lt_mono_ms();
    me->restart_at_ms = 0;
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
            close_control(c);
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
             * out now rather than when the share expires (hand_out_drops). */
            m->drops = lt_realloc(m->drops, (m->n_drops + 1) * sizeof *m->drops);
            m->drops[m->n_drops++] = lt_strdup(c->online_field);
            /* Its spool, and what it had taken over (if it died before its
             * replay was done), go to the next worker started. */
            add_orphan(m, c->spool_owner);
            for (size_t k = 0; k < c->n_inherited; k++)
                add_orphan(m, c->inherited[k]);
        }
    }
    int running = 0;
    for (int i = 0; i < m->n; i++)
        running += m->children[i].pid > 0;
    return running;
}

/* Shutdown: the master lets go of its copies of the listening sockets (it
 * will not start a worker again), so each socket closes, and leaves the
 * port's SO_REUSEPORT group, when its worker closes its own (drain). A
 * socket some process still holds stays in the group, and connections the
 * kernel sends it wait in its queue until they are reset at exit; once all
 * are closed, a connect is refused at once and a proxy tries another
 * instance. */
static void close_listeners(struct master *m)
{
    for (int i = 0; i < m->n; i++) {
        if (m->fds[i] >= 0)
            close(m->fds[i]);
        m->fds[i] = -1;
    }
}

static void forward(struct master *m, int sig)
{
    for (int i = 0; i < m->n; i++)
        if (m->children[i].pid > 0)
            kill(m->children[i].pid, sig);
}

static void on_kept(void *arg, const char *key, const char *running, const char *wanted)
{
    (void)arg;
    lt_warn("master", "SIGHUP: %s changed from %s to %s: that needs a restart; keeping %s", key,
            running, wanted, running);
}

/* SIGHUP: the file (and the same command-line overrides) is read and checked
 * here, once; a config with an error changes nothing. Otherwise it becomes
 * the current snapshot, which restarted workers start with, and its text goes
 * to every running worker. */
static void reload(struct master *m)
{
    struct lt_config loaded;
    struct lt_cli cli;
    char err[1024];
    if (lt_config_load_args(&loaded, &cli, m->argc, m->argv, err, sizeof err) != 0) {
        lt_error("master", "SIGHUP: config not reloaded, everything keeps running on the old one: %s",
                 err);
        return;
    }
    lt_config_keep_restart_only(&loaded, m->cfg, on_kept, m);
    const struct lt_config *next = lt_config_snapshot(&loaded);
    lt_config_unref(m->cfg);
    m->cfg = next;
    lt_log_configure(next->log_level, next->log_format);
    char *json = lt_config_to_json(next);
    const char *path = next->path ? next->path : "";
    int sent = 0;
    for (int i = 0; i < m->n; i++) {
        struct child *c = &m->children[i];
        if (c->pid <= 0 || c->control_fd < 0)
            continue;
        queue_frame(c, LT_CTL_CONFIG, path, strlen(path) + 1, json, strlen(json));
        flush_control(c);
        sent++;
    }
    lt_free(json);
    lt_info("master", "SIGHUP: config %s checked and sent to %d running workers",
            next->path ? next->path : "(defaults)", sent);
}

/* Frees what the master holds; returns exit_code. */
static int master_end(struct master *m, int exit_code)
{
    for (int i = 0; i < m->n; i++) {
        close_control(&m->children[i]);
        for (size_t k = 0; k < m->children[i].n_inherited; k++)
            lt_free(m->children[i].inherited[k]);
        lt_free(m->children[i].inherited);
    }
    for (size_t k = 0; k < m->n_drops; k++)
        lt_free(m->drops[k]);
    lt_free(m->drops);
    for (size_t k = 0; k < m->n_orphans; k++)
        lt_free(m->orphans[k]);
    lt_free(m->orphans);
    if (m->spool_lock >= 0)
        close(m->spool_lock);
    lt_free(m->fds);
    lt_free(m->children);
    lt_free(m->pfds);
    lt_config_unref(m->cfg);
    return exit_code;
}

int lt_master_run(const struct lt_config *cfg, int argc, char **argv)
{
    lt_log_set_process("master");
    struct master m;
    memset(&m, 0, sizeof m);
    m.cfg = lt_config_ref(cfg);
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
    m.spool_lock = -1;
    m.fds = lt_calloc((size_t)m.n, sizeof *m.fds);
    m.children = lt_calloc((size_t)m.n, sizeof *m.children);
    m.pfds = lt_calloc((size_t)m.n + 1, sizeof *m.pfds);
    for (int i = 0; i < m.n; i++)
        m.children[i].control_fd = -1;
    int port;
    char err[4400]; /* listen and spool.dir errors: single snprintfs, cut short when long */
    if (lt_listen_sockets(cfg->listen_host, cfg->listen_port, m.n, m.fds, &port, err,
                          sizeof err) != 0) {
        lt_error("master", "%s", err); /* in log_format, like every line from here on */
        return master_end(&m, 1);
    }
    if (open_spool_dir(&m, cfg->spool_dir, err, sizeof err) != 0) {
        lt_error("master", "%s", err);
        return master_end(&m, 1);
    }
    if (lt_metrics_init_shared(m.n) != 0 || pipe2(m.ready_pipe, O_CLOEXEC) != 0) {
        lt_error("master", "cannot set up workers: %s", strerror(errno));
        return master_end(&m, 1);
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
    /* A file size limit is met by the spool's reservations, which then
     * fail with EFBIG rather than kill the process (inherited by workers). */
    signal(SIGXFSZ, SIG_IGN);
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
            close_listeners(&m);
            forward(&m, SIGTERM);
            /* Workers flush within shutdown_timeout_ms; then they are killed. */
            term_deadline = lt_mono_ms() + m.cfg->shutdown_timeout_ms + 2000;
            /* A slot waiting for its restart has nothing to stop: with no
             * worker running, no SIGCHLD will come to end the loop. */
            int running = 0;
            for (int i = 0; i < m.n; i++)
                running += m.children[i].pid > 0;
            if (running == 0)
                break;
        }
        if (got_hup) {
            got_hup = 0;
            if (term_deadline == 0)
                reload(&m);
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
            hand_out_drops(&m);
        }
        /* pfds[0]: the ready pipe until the ready line; then one per worker
         * with control frames still to write. */
        int timeout = 100;
        struct pollfd *pfds = m.pfds;
        nfds_t npfd = 1;
        pfds[0] = (struct pollfd){announced ? -1 : m.ready_pipe[0], POLLIN, 0};
        for (int i = 0; i < m.n; i++)
            if (m.children[i].out_len > m.children[i].out_off && m.children[i].control_fd >= 0)
                pfds[npfd++] = (struct pollfd){m.children[i].control_fd, POLLOUT, 0};
        struct timespec ts = {0, timeout * 1000000L};
        int pr = ppoll(pfds, npfd, &ts, &waitmask);
        if (pr > 0) {
            for (int i = 0; i < m.n; i++)
                if (m.children[i].out_len > m.children[i].out_off)
                    flush_control(&m.children[i]);
        }
        struct pollfd pfd = pfds[0];
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
                return master_end(&m, 1);
            }
        }
        if (!announced && lt_mono_ms() > ready_deadline) {
            lt_error("master", "workers not ready after %d ms", LT_READY_TIMEOUT_MS);
            forward(&m, SIGKILL);
            return master_end(&m, 1);
        }
    }
    lt_info("master", "all workers stopped; exiting with %d", exit_code);
    return master_end(&m, exit_code);
}
