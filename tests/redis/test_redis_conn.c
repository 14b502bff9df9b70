/* Tests of redis_conn.c against real, throwaway redis-server processes.
 *
 * Each server is started on a port that was free a moment ago (bind to port
 * 0, read it back), with persistence off, and is killed by PID at the end,
 * on a watchdog alarm, and by the kernel (PR_SET_PDEATHSIG) if this program
 * dies. Every wait is bounded. The last line is "N passed, M failed".
 *
 * LT_REDIS_SERVER names the redis-server binary (default "redis-server"). */
#include "livetally/base/clock.h"
#include "livetally/base/error.h"
#include "livetally/base/log.h"
#include "livetally/base/mem.h"
#include "livetally/store/redis_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

static struct event_base *base;

/* Runs the loop in short slices until cond holds or ms pass. */
static bool tick(int64_t end)
{
    if (lt_mono_ms() >= end)
        return false;
    struct timeval tv = {0, 5000};
    event_base_loopexit(base, &tv);
    event_base_dispatch(base);
    return true;
}

#define WAIT(cond, ms)                                                                             \
    do {                                                                                           \
        int64_t end_ = lt_mono_ms() + (ms);                                                        \
        while (!(cond) && tick(end_)) {                                                            \
        }                                                                                          \
    } while (0)

static void run_for(int ms)
{
    int64_t end = lt_mono_ms() + ms;
    while (tick(end)) {
    }
}

/* ---- throwaway servers --------------------------------------------------- */

struct server {
    pid_t pid;
    int port;
    const char *password;
};

static struct server *servers[4];
static const char *redis_bin = "redis-server";
static bool debug_flag; /* Redis 7 refuses DEBUG unless enabled */

static void kill_servers(void)
{
    for (int i = 0; i < 4; i++)
        if (servers[i] && servers[i]->pid > 0) {
            kill(servers[i]->pid, SIGKILL);
            waitpid(servers[i]->pid, NULL, 0);
            servers[i]->pid = 0;
        }
}

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < 4; i++)
        if (servers[i] && servers[i]->pid > 0)
            kill(servers[i]->pid, SIGKILL);
    static const char msg[] = "test_redis_conn: watchdog or signal, servers killed\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(sig == SIGALRM ? 2 : 128 + sig);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
        perror("free_port");
        exit(1);
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

static void detect_version(void)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "'%s' --version 2>/dev/null", redis_bin);
    FILE *p = popen(cmd, "r");
    char line[256] = "";
    if (p) {
        if (!fgets(line, sizeof line, p))
            line[0] = '\0';
        pclose(p);
    }
    const char *v = strstr(line, "v=");
    debug_flag = v && atoi(v + 2) >= 7;
    printf("# %s: %s", redis_bin, line[0] ? line : "(no version)\n");
}

static bool server_start(struct server *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    const char *argv[24];
    int n = 0;
    argv[n++] = redis_bin;
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--save";
    argv[n++] = "";
    argv[n++] = "--appendonly";
    argv[n++] = "no";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    if (debug_flag) {
        argv[n++] = "--enable-debug-command";
        argv[n++] = "yes";
    }
    if (s->password) {
        argv[n++] = "--requirepass";
        argv[n++] = s->password;
    }
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDOUT_FILENO);
        execvp(redis_bin, (char *const *)(void *)argv);
        fprintf(stderr, "exec %s: %s\n", redis_bin, strerror(errno));
        _exit(127);
    }
    s->pid = pid;
    int64_t end = lt_mono_ms() + 5000;
    while (lt_mono_ms() < end) {
        if (port_open(s->port))
            return true;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            s->pid = 0;
            return false;
        }
        usleep(10000);
    }
    return false;
}

static void server_kill(struct server *s)
{
    if (s->pid > 0) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, NULL, 0);
        s->pid = 0;
    }
}

/* ---- probes -------------------------------------------------------------- */

struct probe {
    int calls;
    int err;
    int type;
    long long integer;
    size_t elements;
    char str[4096];
    bool free_conn; /* call lt_redis_conn_free from the callback */
};

static bool in_api_call; /* set around lt_redis_* calls: callbacks must not run */

static void on_reply(struct lt_redis_conn *conn, struct redisReply *reply, int err, void *arg)
{
    struct probe *p = arg;
    if (in_api_call) {
        failed++;
        fprintf(stderr, "callback ran inside an lt_redis_* call\n");
    }
    p->calls++;
    p->err = err;
    p->type = reply ? reply->type : 0;
    p->str[0] = '\0';
    if (reply) {
        p->integer = reply->integer;
        p->elements = reply->elements;
        if (reply->str)
            snprintf(p->str, sizeof p->str, "%.*s", (int)reply->len, reply->str);
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
            reply->element[0]->type == REDIS_REPLY_INTEGER)
            p->integer = reply->element[0]->integer;
    }
    if (p->free_conn)
        lt_redis_conn_free(conn);
}

struct watch {
    int count[4];
    enum lt_redis_state last;
    int64_t connecting_at[256];
    int nconnecting;
    bool free_on_ready;
};

static void on_state(struct lt_redis_conn *conn, enum lt_redis_state state, void *arg)
{
    struct watch *w = arg;
    if (in_api_call) {
        failed++;
        fprintf(stderr, "on_state ran inside an lt_redis_* call\n");
    }
    w->count[state]++;
    w->last = state;
    if (state == LT_REDIS_CONNECTING && w->nconnecting < 256)
        w->connecting_at[w->nconnecting++] = lt_mono_ms();
    if (state == LT_REDIS_READY && w->free_on_ready)
        lt_redis_conn_free(conn);
}

struct inbox {
    int count;
    int confirmed; /* subscriptions confirmed while READY (payload NULL) */
    char channel[64];
    char payload[64];
    size_t payload_len;
    bool free_conn; /* call lt_redis_conn_free from on_message */
};

static void on_message(struct lt_redis_conn *conn, const char *channel, size_t channel_len,
                       const char *payload, size_t payload_len, void *arg)
{
    (void)conn;
    struct inbox *in = arg;
    if (!payload) {
        in->confirmed++;
        return;
    }
    in->count++;
    snprintf(in->channel, sizeof in->channel, "%.*s", (int)channel_len, channel);
    in->payload_len = payload_len < sizeof in->payload ? payload_len : sizeof in->payload;
    memcpy(in->payload, payload, in->payload_len);
    if (in->free_conn)
        lt_redis_conn_free(conn);
}

static struct lt_redis_conn *open_conn(const struct server *s, struct watch *w, const char *name,
                                       int cmd_timeout)
{
    struct lt_redis_conn_opts o = {
        .name = name,
        .host = "127.0.0.1",
        .port = s->port,
        .password = s->password,
        .connect_timeout_ms = 1000,
        .command_timeout_ms = cmd_timeout,
        .backoff_min_ms = 20,
        .backoff_max_ms = 300,
        .on_state = on_state,
        .arg = w,
    };
    in_api_call = true;
    struct lt_redis_conn *c = lt_redis_conn_new(base, &o);
    in_api_call = false;
    return c;
}

/* Sends a command and waits for its one callback. */
static int cmd(struct lt_redis_conn *c, struct probe *p, const char *fmt, const char *a,
               const char *b)
{
    memset(p, 0, sizeof *p);
    in_api_call = true;
    int rc = lt_redis_command(c, on_reply, p, fmt, a, b);
    in_api_call = false;
    if (rc == 0)
        WAIT(p->calls > 0, 3000);
    return rc;
}

static void close_conn(struct lt_redis_conn *c)
{
    in_api_call = true;
    lt_redis_conn_free(c);
    in_api_call = false;
    run_for(20);
}

static long long commandstat(struct lt_redis_conn *c, const char *name)
{
    struct probe p;
    cmd(c, &p, "INFO commandstats", NULL, NULL);
    char key[64];
    snprintf(key, sizeof key, "cmdstat_%s:calls=", name);
    const char *at = strstr(p.str, key);
    return at ? atoll(at + strlen(key)) : 0;
}

/* ---- the tests ------------------------------------------------------------ */

static void test_commands(const struct server *s)
{
    struct watch w = {0};
    struct lt_redis_conn *c = open_conn(s, &w, "data", 2000);
    CHECK(lt_redis_conn_state(c) == LT_REDIS_CONNECTING);
    struct probe p = {0};
    CHECK(lt_redis_command(c, on_reply, &p, "PING") == LT_EAGAIN); /* not READY yet */
    WAIT(w.last == LT_REDIS_READY, 3000);
    CHECK(w.count[LT_REDIS_READY] == 1);

    CHECK(cmd(c, &p, "SET %s %s", "greeting", "hello") == 0);
    CHECK(p.calls == 1 && p.err == 0 && p.type == REDIS_REPLY_STATUS && !strcmp(p.str, "OK"));
    cmd(c, &p, "GET %s", "greeting", NULL);
    CHECK(p.calls == 1 && p.type == REDIS_REPLY_STRING && !strcmp(p.str, "hello"));

    /* argv with binary data, two pipelined commands, pending count */
    const char *argv[] = {"SET", "bin", "a\0b"};
    const size_t argvlen[] = {3, 3, 3};
    struct probe p1 = {0}, p2 = {0};
    in_api_call = true;
    CHECK(lt_redis_command_argv(c, on_reply, &p1, 3, argv, argvlen) == 0);
    CHECK(lt_redis_command(c, on_reply, &p2, "STRLEN bin") == 0);
    CHECK(lt_redis_command(c, NULL, NULL, "SET %s %s", "fire", "forget") == 0);
    in_api_call = false;
    CHECK(lt_redis_conn_pending(c) == 3);
    WAIT(p2.calls > 0 && lt_redis_conn_pending(c) == 0, 3000);
    CHECK(p1.calls == 1 && p1.err == 0 && p2.calls == 1 && p2.integer == 3);
    CHECK(lt_redis_conn_pending(c) == 0);

    /* an error reply is a reply: err == 0 */
    cmd(c, &p, "INCR %s", "greeting", NULL);
    CHECK(p.calls == 1 && p.err == 0 && p.type == REDIS_REPLY_ERROR);
    close_conn(c);
}

/* Scripts live for the process; kept reachable here for LeakSanitizer. */
static struct lt_redis_script *incr_script, *bad_script;

static void test_eval(const struct server *s)
{
    struct watch w = {0};
    struct lt_redis_conn *c = open_conn(s, &w, "eval", 2000);
    WAIT(w.last == LT_REDIS_READY, 3000);
    incr_script = lt_redis_script_new("return redis.call('INCRBY', KEYS[1], ARGV[1])");
    const char *sha = lt_redis_script_sha(incr_script);
    CHECK(strlen(sha) == 40);
    struct probe p;
    cmd(c, &p, "SCRIPT FLUSH", NULL, NULL);
    cmd(c, &p, "SCRIPT EXISTS %s", sha, NULL);
    CHECK(p.type == REDIS_REPLY_ARRAY && p.integer == 0);
    cmd(c, &p, "CONFIG RESETSTAT", NULL, NULL);

    /* The owner's buffers are scribbled over right after the call: the
     * NOSCRIPT retry must use the copy. */
    char key[16] = "evalkey", amount[16] = "5";
    const char *argv[] = {key, amount};
    memset(&p, 0, sizeof p);
    in_api_call = true;
    CHECK(lt_redis_eval(c, incr_script, 1, 2, argv, NULL, on_reply, &p) == 0);
    in_api_call = false;
    memset(key, 'X', sizeof key - 1);
    memset(amount, '9', sizeof amount - 1);
    WAIT(p.calls > 0, 3000);
    CHECK(p.calls == 1 && p.err == 0 && p.type == REDIS_REPLY_INTEGER && p.integer == 5);
    CHECK(commandstat(c, "eval") == 1); /* the fallback happened */
    long long evalsha_before = commandstat(c, "evalsha");
    cmd(c, &p, "SCRIPT EXISTS %s", sha, NULL);
    CHECK(p.integer == 1); /* our SHA-1 is the one Redis computed */

    const char *argv2[] = {"evalkey", "7"};
    const size_t len2[] = {7, 1};
    memset(&p, 0, sizeof p);
    CHECK(lt_redis_eval(c, incr_script, 1, 2, argv2, len2, on_reply, &p) == 0);
    WAIT(p.calls > 0, 3000);
    CHECK(p.calls == 1 && p.integer == 12);
    CHECK(commandstat(c, "eval") == 1);                     /* no second EVAL ... */
    CHECK(commandstat(c, "evalsha") == evalsha_before + 1); /* ... EVALSHA did it */
    CHECK(lt_redis_eval(c, incr_script, 3, 2, argv2, len2, on_reply, &p) == LT_EINVAL);

    /* a script error (not NOSCRIPT) is passed through */
    bad_script = lt_redis_script_new("return redis.call('NOSUCHCMD')");
    memset(&p, 0, sizeof p);
    CHECK(lt_redis_eval(c, bad_script, 0, 0, NULL, NULL, on_reply, &p) == 0);
    WAIT(p.calls > 0, 3000);
    CHECK(p.calls == 1 && p.err == 0 && p.type == REDIS_REPLY_ERROR);
    close_conn(c);
}

/* Pings until PONG (the server may still be asleep after a timeout). */
static bool ping_until_pong(struct lt_redis_conn *c, struct watch *w, int ms)
{
    int64_t end = lt_mono_ms() + ms;
    while (lt_mono_ms() < end) {
        WAIT(w->last == LT_REDIS_READY, end - lt_mono_ms());
        struct probe p;
        if (cmd(c, &p, "PING", NULL, NULL) == 0 && p.err == 0 && !strcmp(p.str, "PONG"))
            return true;
        run_for(20);
    }
    return false;
}

static void test_command_timeout(const struct server *s)
{
    struct watch w = {0};
    struct lt_redis_conn *c = open_conn(s, &w, "slow", 200);
    WAIT(w.last == LT_REDIS_READY, 3000);
    struct probe sleeper = {0}, behind = {0};
    int64_t t0 = lt_mono_ms();
    CHECK(lt_redis_command(c, on_reply, &sleeper, "DEBUG SLEEP 1") == 0);
    CHECK(lt_redis_command(c, on_reply, &behind, "PING") == 0);
    WAIT(sleeper.calls > 0, 3000);
    int64_t took = lt_mono_ms() - t0;
    CHECK(sleeper.calls == 1 && sleeper.err == LT_ETIMEDOUT && sleeper.type == 0);
    CHECK(behind.calls == 1 && behind.err == LT_EDISCONNECTED);
    CHECK(took >= 150 && took < 900);
    CHECK(w.count[LT_REDIS_DOWN] >= 1);
    CHECK(lt_redis_conn_pending(c) == 0);
    CHECK(ping_until_pong(c, &w, 5000));
    CHECK(w.count[LT_REDIS_READY] >= 2);
    run_for(300);
    CHECK(sleeper.calls == 1 && behind.calls == 1); /* exactly once */
    close_conn(c);
}

static void test_kill_and_restart(struct server *s)
{
    struct watch w = {0}, ws = {0};
    struct lt_redis_conn *c = open_conn(s, &w, "data", 5000);
    struct lt_redis_conn *sub = open_conn(s, &ws, "pubsub", 5000);
    struct inbox in = {0};
    CHECK(lt_redis_subscribe(sub, "news", on_message, &in) == 0); /* before READY */
    WAIT(w.last == LT_REDIS_READY && ws.last == LT_REDIS_READY, 3000);
    /* READY on a subscriber means confirmed: the first PUBLISH reaches it */
    struct probe p;
    cmd(c, &p, "PUBLISH news %s", "one", NULL);
    CHECK(p.err == 0 && p.integer == 1);
    WAIT(in.count > 0, 3000);
    CHECK(in.count == 1 && !strcmp(in.payload, "one"));

    struct probe sleeper = {0};
    CHECK(lt_redis_command(c, on_reply, &sleeper, "DEBUG SLEEP 3") == 0);
    run_for(200);
    server_kill(s);
    WAIT(sleeper.calls > 0 && ws.last != LT_REDIS_READY, 3000);
    CHECK(sleeper.calls == 1 && sleeper.err == LT_EDISCONNECTED);
    CHECK(w.last != LT_REDIS_READY && w.count[LT_REDIS_DOWN] >= 1);
    CHECK(lt_redis_command(c, on_reply, &p, "PING") == LT_EAGAIN);

    /* refused while down: retries, with growing delays, but not a flood */
    int before = w.nconnecting;
    run_for(1500);
    int attempts = w.nconnecting - before;
    CHECK(attempts >= 4 && attempts <= 25);
    if (attempts >= 4) {
        int64_t shortest = INT64_MAX;
        for (int i = before + 1; i < w.nconnecting; i++)
            if (w.connecting_at[i] - w.connecting_at[i - 1] < shortest)
                shortest = w.connecting_at[i] - w.connecting_at[i - 1];
        int64_t last = w.connecting_at[w.nconnecting - 1] - w.connecting_at[w.nconnecting - 2];
        CHECK(last >= 2 * shortest && last >= 140 && last <= 450); /* grew, capped, jittered */
    }
    CHECK(w.last != LT_REDIS_READY);

    CHECK(server_start(s));
    WAIT(w.last == LT_REDIS_READY && ws.last == LT_REDIS_READY, 5000);
    CHECK(w.last == LT_REDIS_READY && ws.last == LT_REDIS_READY);
    cmd(c, &p, "SET %s %s", "after", "restart");
    CHECK(p.calls == 1 && p.err == 0 && !strcmp(p.str, "OK"));
    /* the subscription came back by itself, confirmed before READY */
    int had = in.count;
    cmd(c, &p, "PUBLISH news %s", "two", NULL);
    CHECK(p.err == 0 && p.integer == 1);
    WAIT(in.count > had, 3000);
    CHECK(in.count == had + 1 && !strcmp(in.payload, "two"));
    close_conn(sub);
    close_conn(c);
}

static void test_subscribe(const struct server *s)
{
    struct watch w = {0}, ws = {0};
    struct lt_redis_conn *c = open_conn(s, &w, "data", 2000);
    struct lt_redis_conn *sub = open_conn(s, &ws, "pubsub", 2000);
    WAIT(w.last == LT_REDIS_READY && ws.last == LT_REDIS_READY, 3000);
    struct inbox a = {0}, b = {0};
    CHECK(lt_redis_subscribe(sub, "ch:a", on_message, &a) == 0);
    CHECK(lt_redis_subscribe(sub, "ch:a", on_message, &a) == LT_EINVAL);
    CHECK(lt_redis_subscribe(sub, "ch:b", on_message, &b) == 0);
    struct probe p;
    CHECK(lt_redis_command(sub, on_reply, &p, "PING") == LT_EINVAL); /* subscriber mode */
    for (int64_t end = lt_mono_ms() + 3000; a.count == 0 && lt_mono_ms() < end;) {
        memset(&p, 0, sizeof p);
        CHECK(lt_redis_command(c, on_reply, &p, "PUBLISH ch:a %b", "x\0y", (size_t)3) == 0);
        WAIT(p.calls > 0 && a.count > 0, 100);
    }
    CHECK(a.count >= 1 && !strcmp(a.channel, "ch:a") && a.payload_len == 3 &&
          !memcmp(a.payload, "x\0y", 3));
    /* made while READY: the confirmation is reported once, before messages */
    CHECK(a.confirmed == 1);
    WAIT((cmd(c, &p, "PUBLISH ch:b %s", "bee", NULL), b.count > 0), 3000);
    CHECK(b.count >= 1 && !strcmp(b.channel, "ch:b"));

    /* unsubscribe: Redis stops counting a receiver, nothing more arrives */
    CHECK(lt_redis_unsubscribe(sub, "ch:a") == 0);
    CHECK(lt_redis_unsubscribe(sub, "ch:a") == LT_ENOTFOUND);
    WAIT((cmd(c, &p, "PUBLISH ch:a %s", "gone", NULL), p.integer == 0), 3000);
    CHECK(p.integer == 0);
    int had = a.count;
    run_for(100);
    CHECK(a.count == had);

    /* unsubscribe and subscribe again at once: still delivered after */
    CHECK(lt_redis_unsubscribe(sub, "ch:b") == 0);
    CHECK(lt_redis_subscribe(sub, "ch:b", on_message, &b) == 0);
    run_for(100);
    had = b.count;
    WAIT((cmd(c, &p, "PUBLISH ch:b %s", "again", NULL), b.count > had), 3000);
    CHECK(b.count > had && !strcmp(b.payload, "again"));
    CHECK(ws.count[LT_REDIS_DOWN] == 0);
    close_conn(sub);

    /* free from on_message, with more messages behind in the same read */
    struct watch wf = {0};
    struct inbox f = {.free_conn = true};
    struct lt_redis_conn *doomed = open_conn(s, &wf, "pubsub-freeing", 2000);
    CHECK(lt_redis_subscribe(doomed, "ch:f", on_message, &f) == 0);
    WAIT(wf.last == LT_REDIS_READY, 3000);
    const char *burst[] = {"MULTI", "PUBLISH ch:f 1", "PUBLISH ch:f 2", "PUBLISH ch:f 3", "EXEC"};
    for (int i = 0; i < 5; i++)
        lt_redis_command(c, NULL, NULL, burst[i]);
    WAIT(f.count > 0, 3000);
    run_for(100);
    CHECK(f.count == 1);
    close_conn(c);
}

static void test_free_inside(const struct server *s)
{
    /* free from a reply callback with more commands pipelined behind it */
    struct watch w = {0};
    struct lt_redis_conn *c = open_conn(s, &w, "freeing", 2000);
    WAIT(w.last == LT_REDIS_READY, 3000);
    struct probe first = {.free_conn = true}, second = {0}, third = {0};
    CHECK(lt_redis_command(c, on_reply, &first, "PING") == 0);
    CHECK(lt_redis_command(c, on_reply, &second, "PING") == 0);
    CHECK(lt_redis_command(c, on_reply, &third, "DEBUG SLEEP 0.2") == 0);
    WAIT(third.calls > 0, 3000);
    run_for(300);
    CHECK(first.calls == 1 && first.err == 0 && !strcmp(first.str, "PONG"));
    CHECK(second.calls == 1 && second.err == LT_ECLOSED);
    CHECK(third.calls == 1 && third.err == LT_ECLOSED);

    /* free from on_state(READY) */
    struct watch w2 = {.free_on_ready = true};
    open_conn(s, &w2, "freeing-on-ready", 2000);
    WAIT(w2.count[LT_REDIS_READY] > 0, 3000);
    run_for(50);
    CHECK(w2.count[LT_REDIS_READY] == 1);

    /* free with a command in flight, outside any callback: the callback
     * runs later on the loop, not inside lt_redis_conn_free */
    struct watch w3 = {0};
    c = open_conn(s, &w3, "freeing-outside", 2000);
    WAIT(w3.last == LT_REDIS_READY, 3000);
    struct probe p = {0};
    CHECK(lt_redis_command(c, on_reply, &p, "DEBUG SLEEP 0.1") == 0);
    in_api_call = true;
    lt_redis_conn_free(c);
    in_api_call = false;
    CHECK(p.calls == 0);
    WAIT(p.calls > 0, 1000);
    CHECK(p.calls == 1 && p.err == LT_ECLOSED);
    int down = w3.count[LT_REDIS_DOWN];
    run_for(300);
    CHECK(p.calls == 1 && w3.count[LT_REDIS_DOWN] == down);

    /* free before the loop ever ran */
    struct watch w4 = {0};
    close_conn(open_conn(s, &w4, "freeing-at-once", 2000));
    run_for(50);
    CHECK(w4.count[LT_REDIS_CONNECTING] == 0 && w4.count[LT_REDIS_READY] == 0);

    /* free from the callback of a command failed by a timeout teardown */
    struct watch w5 = {0};
    c = open_conn(s, &w5, "freeing-on-timeout", 100);
    WAIT(w5.last == LT_REDIS_READY, 3000);
    struct probe slow = {.free_conn = true}, after = {0};
    CHECK(lt_redis_command(c, on_reply, &slow, "DEBUG SLEEP 0.5") == 0);
    CHECK(lt_redis_command(c, on_reply, &after, "PING") == 0);
    WAIT(after.calls > 0, 2000);
    CHECK(slow.calls == 1 && slow.err == LT_ETIMEDOUT);
    CHECK(after.calls == 1 && after.err == LT_ECLOSED);
    run_for(600); /* let the server wake up before the next test */
}

static void test_connect_timeout(void)
{
    /* A listener that never accepts: TCP may complete in the backlog, but
     * AUTH is never answered, so only our connect timer ends the attempt. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    CHECK(bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 1) == 0 &&
          getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
    struct server blackhole = {.port = ntohs(sa.sin_port), .password = "nobody-answers"};
    struct watch w = {0};
    struct lt_redis_conn_opts o = {.name = "blackhole",
                                   .host = "127.0.0.1",
                                   .port = blackhole.port,
                                   .password = blackhole.password,
                                   .connect_timeout_ms = 150,
                                   .command_timeout_ms = 5000,
                                   .backoff_min_ms = 50,
                                   .backoff_max_ms = 200,
                                   .on_state = on_state,
                                   .arg = &w};
    struct lt_redis_conn *c = lt_redis_conn_new(base, &o);
    run_for(1500);
    CHECK(w.count[LT_REDIS_READY] == 0);
    CHECK(w.count[LT_REDIS_DOWN] >= 3 && w.count[LT_REDIS_DOWN] <= 10);
    if (w.nconnecting >= 2) {
        int64_t gap = w.connecting_at[1] - w.connecting_at[0];
        CHECK(gap >= 160 && gap < 600); /* timeout + backoff */
    }
    close_conn(c);
    close(fd);
}

static void test_auth(const struct server *s)
{
    struct watch w = {0};
    struct lt_redis_conn_opts o = {.name = "auth",
                                   .host = "127.0.0.1",
                                   .port = s->port,
                                   .password = s->password,
                                   .db = 3,
                                   .connect_timeout_ms = 1000,
                                   .command_timeout_ms = 2000,
                                   .on_state = on_state,
                                   .arg = &w};
    struct lt_redis_conn *c = lt_redis_conn_new(base, &o);
    WAIT(w.last == LT_REDIS_READY, 3000);
    CHECK(w.last == LT_REDIS_READY);
    struct probe p;
    cmd(c, &p, "SET %s %s", "in-db-3", "yes");
    CHECK(p.err == 0 && !strcmp(p.str, "OK"));

    struct watch w0 = {0};
    o.db = 0;
    o.arg = &w0;
    struct lt_redis_conn *c0 = lt_redis_conn_new(base, &o);
    WAIT(w0.last == LT_REDIS_READY, 3000);
    cmd(c0, &p, "EXISTS %s", "in-db-3", NULL);
    CHECK(p.err == 0 && p.type == REDIS_REPLY_INTEGER && p.integer == 0); /* SELECT happened */

    struct watch wbad = {0};
    o.password = "wrong";
    o.arg = &wbad;
    o.backoff_min_ms = 50;
    struct lt_redis_conn *bad = lt_redis_conn_new(base, &o);
    run_for(600);
    CHECK(wbad.count[LT_REDIS_READY] == 0 && wbad.count[LT_REDIS_DOWN] >= 2);

    struct watch wnone = {0};
    o.password = NULL;
    o.arg = &wnone;
    struct lt_redis_conn *none = lt_redis_conn_new(base, &o);
    run_for(300); /* the PING of the handshake gets NOAUTH: never READY */
    CHECK(wnone.count[LT_REDIS_READY] == 0 && wnone.count[LT_REDIS_DOWN] >= 1);
    close_conn(none);
    close_conn(bad);
    close_conn(c0);
    close_conn(c);
}

int main(void)
{
    const char *env = getenv("LT_REDIS_SERVER");
    if (env && env[0] && !strstr(env, "NOTFOUND"))
        redis_bin = env;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    alarm(110);
    atexit(kill_servers);
    lt_mem_install_hooks();
    detect_version();
    base = event_base_new();

    struct server plain = {.port = free_port()};
    struct server locked = {.port = free_port(), .password = "s3cret"};
    servers[0] = &plain;
    servers[1] = &locked;
    if (!server_start(&plain) || !server_start(&locked)) {
        fprintf(stderr, "could not start %s\n", redis_bin);
        printf("0 passed, 1 failed\n");
        return 1;
    }

    test_commands(&plain);
    test_eval(&plain);
    test_subscribe(&plain);
    test_free_inside(&plain);
    test_command_timeout(&plain);
    test_connect_timeout();
    test_auth(&locked);
    test_kill_and_restart(&plain);

    run_for(50);
    event_base_free(base);
    kill_servers();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
