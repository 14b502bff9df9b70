/* cluster_slots.c against a real redis-server in cluster mode: one node,
 * never joined to a cluster, which still answers CLUSTER KEYSLOT, SHARDS
 * and SLOTS.
 *  - lt_cluster_keyslot agrees with CLUSTER KEYSLOT on 600 random keys:
 *    stream keys with their "{id}" tag, random bytes with braces, empty
 *    tags, NULs;
 *  - before it owns a slot, its SHARDS and SLOTS replies are refused as
 *    not covering 0-16383; after CLUSTER ADDSLOTSRANGE 0 16383 both give
 *    one master, this node (its port and CLUSTER MYID; its host "", as a
 *    lone node does not know its address: "the host asked").
 * The server runs on a free port in 12000-21999 (its cluster bus is port +
 * 10000), checked to be ours (INFO's process_id), in a temporary
 * directory, and is killed by PID at the end, on a
 * watchdog alarm, and by the kernel if this program dies (PDEATHSIG).
 *
 * LT_REDIS_SERVER names the redis-server binary (default "redis-server"). */
#include "livetally/base/error.h"
#include "livetally/base/strbuf.h"
#include "livetally/store/cluster_slots.h"

#include <arpa/inet.h>
#include <errno.h>
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
#include <time.h>
#include <unistd.h>

static int passed, failed;
static pid_t server_pid;
static char dir[] = "/tmp/lt-cluster-keyslot-XXXXXX";

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            passed++;                                                                              \
        } else {                                                                                   \
            failed++;                                                                              \
            fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

static void cleanup(void)
{
    if (server_pid > 0) {
        kill(server_pid, SIGKILL);
        waitpid(server_pid, NULL, 0);
        server_pid = 0;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/nodes.conf", dir);
    unlink(path);
    rmdir(dir);
}

static void on_fatal_signal(int sig)
{
    if (server_pid > 0)
        kill(server_pid, SIGKILL);
    static const char msg[] = "test_cluster_keyslot: watchdog or signal, server killed\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(sig == SIGALRM ? 2 : 128 + sig);
}

static bool port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* A port free a moment ago with its bus port (+10000), both in 12000-31999:
 * below the ephemeral range (32768+), where the other tests' servers take
 * their ports (bound to port 0) and their clients' connections theirs. The
 * same band as tests/integration/ltcluster.py. */
static int free_port(void)
{
    for (int tries = 0; tries < 5000; tries++) {
        int port = 12000 + rand() % 10000;
        if (port_free(port) && port_free(port + 10000))
            return port;
    }
    fprintf(stderr, "free_port: no free pair of ports in 12000-31999\n");
    exit(1);
}

/* Whether c reaches the server we started: the port was free a moment
 * ago, but another test's process may have taken it first (then ours
 * exits, unable to bind, and the connection is to a stranger). */
static bool is_ours(redisContext *c, pid_t pid)
{
    redisReply *r = redisCommand(c, "INFO server");
    char want[40];
    snprintf(want, sizeof want, "\r\nprocess_id:%d\r\n", (int)pid);
    bool ours = r && r->type == REDIS_REPLY_STRING && strstr(r->str, want) != NULL;
    freeReplyObject(r);
    return ours;
}

static redisContext *server_start(const char *bin, int port)
{
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    const char *argv[] = {bin,          "--port",
                          port_s,       "--bind",
                          "127.0.0.1",  "--dir",
                          dir,          "--save",
                          "",           "--appendonly",
                          "no",         "--cluster-enabled",
                          "yes",        "--cluster-config-file",
                          "nodes.conf", NULL};
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, STDOUT_FILENO);
        execvp(bin, (char *const *)(void *)argv);
        fprintf(stderr, "exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    server_pid = pid;
    for (int i = 0; i < 500; i++) { /* 5 s */
        struct timeval tv = {.tv_sec = 1};
        redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
        if (c && !c->err && is_ours(c, pid))
            return c;
        redisFree(c);
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            server_pid = 0;
            return NULL;
        }
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    server_pid = 0;
    return NULL;
}

static void test_keyslots(redisContext *c)
{
    srand((unsigned)time(NULL));
    printf("# seed %u\n", (unsigned)time(NULL));
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789-_:{}";
    int agree = 0, n = 600;
    for (int i = 0; i < n; i++) {
        char key[80];
        size_t len;
        if (i % 3 == 0) { /* a stream's key: lt:{<id>}:<kind> */
            char id[33];
            int idn = 1 + rand() % 32;
            for (int j = 0; j < idn; j++)
                id[j] = alphabet[rand() % 38];
            id[idn] = '\0';
            len = (size_t)snprintf(key, sizeof key, "lt:{%s}:%s", id, i % 2 ? "totals" : "uniques");
        } else if (i % 3 == 1) { /* letters and braces, tags empty or not */
            len = (size_t)(rand() % 24);
            for (size_t j = 0; j < len; j++)
                key[j] = alphabet[rand() % (sizeof alphabet - 1)];
        } else { /* any bytes, NUL included */
            len = (size_t)(rand() % 40);
            for (size_t j = 0; j < len; j++)
                key[j] = (char)(rand() % 256);
        }
        redisReply *r = redisCommand(c, "CLUSTER KEYSLOT %b", key, len);
        unsigned mine = lt_cluster_keyslot(key, len);
        if (r && r->type == REDIS_REPLY_INTEGER && r->integer == (long long)mine)
            agree++;
        else
            CHECK(false, "key %d (%zu bytes): ours %u, Redis %lld", i, len, mine,
                  r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1LL);
        freeReplyObject(r);
    }
    CHECK(agree == n, "%d of %d keys agree", agree, n);
    printf("# %d of %d keys: the same slot as CLUSTER KEYSLOT\n", agree, n);
}

static int decode(redisContext *c, bool shards, struct lt_cluster_map **m, char *why, size_t cap)
{
    redisReply *r = redisCommand(c, shards ? "CLUSTER SHARDS" : "CLUSTER SLOTS");
    struct lt_strbuf sb;
    lt_strbuf_init_fixed(&sb, why, cap);
    int rc =
        r ? (shards ? lt_cluster_map_from_shards(r, m, &sb) : lt_cluster_map_from_slots(r, m, &sb))
          : LT_EIO;
    freeReplyObject(r);
    return rc;
}

static void test_maps(redisContext *c, int port)
{
    char why[256];
    struct lt_cluster_map *m = NULL;
    for (int shards = 0; shards < 2; shards++) {
        int rc = decode(c, shards, &m, why, sizeof why);
        CHECK(rc == LT_EPROTO && strstr(why, "slots 0-16383 have no master"),
              "no slots yet: rc %d, \"%s\"", rc, why);
    }
    redisReply *r = redisCommand(c, "CLUSTER ADDSLOTSRANGE 0 16383");
    CHECK(r && r->type == REDIS_REPLY_STATUS, "ADDSLOTSRANGE: %s", r ? r->str : "no reply");
    freeReplyObject(r);
    r = redisCommand(c, "CLUSTER MYID");
    char myid[64] = "";
    if (r && r->type == REDIS_REPLY_STRING && r->len < sizeof myid)
        memcpy(myid, r->str, r->len + 1);
    freeReplyObject(r);
    CHECK(strlen(myid) == 40, "MYID: \"%s\"", myid);
    for (int shards = 0; shards < 2; shards++) {
        int rc = decode(c, shards, &m, why, sizeof why);
        CHECK(rc == 0, "%s: rc %d, \"%s\"", shards ? "SHARDS" : "SLOTS", rc, why);
        if (rc != 0)
            continue;
        CHECK(lt_cluster_map_n_masters(m) == 1, "masters: %zu", lt_cluster_map_n_masters(m));
        const struct lt_cluster_node *n = &lt_cluster_map_shard(m, 16383)->master;
        /* A node that never met another does not know its own address:
         * Redis gives "" (the host asked), which the map keeps as "". */
        CHECK(n->port == port && strcmp(n->id, myid) == 0 &&
                  (n->host[0] == '\0' || strcmp(n->host, "127.0.0.1") == 0),
              "%s: master %s:%d %s", shards ? "SHARDS" : "SLOTS", n->host, n->port, n->id);
        lt_cluster_map_free(m);
    }
}

int main(void)
{
    const char *bin = getenv("LT_REDIS_SERVER");
    if (!bin || !*bin)
        bin = "redis-server";
    signal(SIGALRM, on_fatal_signal);
    signal(SIGINT, on_fatal_signal);
    signal(SIGTERM, on_fatal_signal);
    alarm(60);
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup);
    srand((unsigned)getpid() ^ (unsigned)time(NULL));
    redisContext *c = NULL;
    int port = 0;
    for (int tries = 0; tries < 3 && !c; tries++) /* the port or its bus port may be taken */
        c = server_start(bin, port = free_port());
    if (!c) {
        fprintf(stderr, "could not start %s in cluster mode\n", bin);
        printf("0 passed, 1 failed\n");
        return 1;
    }
    test_keyslots(c);
    test_maps(c, port);
    redisFree(c);
    cleanup();
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
