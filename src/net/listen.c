/* Listening sockets made before the fork (see listen.h). */
#include "livetally/net/listen.h"

#include "livetally/base/error.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int somaxconn(void)
{
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    int v = SOMAXCONN;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = SOMAXCONN;
        fclose(f);
    }
    return v;
}

int lt_listen_sockets(const char *host, int port, int n, int *fds, int *bound_port, char *err,
                      unsigned long errlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[16]; /* an int */
    snprintf(portstr, sizeof portstr, "%d", port);
    int rc = getaddrinfo(host, portstr, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s:%d: %s", host, port, gai_strerror(rc));
        return LT_EIO;
    }
    int backlog = somaxconn();
    int real_port = port;
    for (int i = 0; i < n; i++) {
        int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
            snprintf(err, errlen, "listen socket: %s", strerror(errno));
            freeaddrinfo(res);
            return LT_EIO;
        }
        /* The first socket takes the asked port (0 included); the others
         * join the port it got, so one port serves every worker. */
        struct sockaddr_storage addr;
        memcpy(&addr, res->ai_addr, res->ai_addrlen);
        if (addr.ss_family == AF_INET)
            ((struct sockaddr_in *)&addr)->sin_port = htons((uint16_t)real_port);
        else
            ((struct sockaddr_in6 *)&addr)->sin6_port = htons((uint16_t)real_port);
        if (bind(fd, (struct sockaddr *)&addr, res->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
            snprintf(err, errlen, "listen %s:%d: %s", host, real_port, strerror(errno));
            close(fd);
            freeaddrinfo(res);
            return LT_EIO;
        }
        if (i == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            getsockname(fd, (struct sockaddr *)&ss, &sl);
            real_port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                      : ((struct sockaddr_in6 *)&ss)->sin6_port);
        }
        fds[i] = fd;
    }
    freeaddrinfo(res);
    *bound_port = real_port;
    return 0;
}
