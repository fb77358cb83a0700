/*
 * SIGPIPE never kills the process. The library is made to write into a
 * socket whose sending side is shut down (EPIPE): with the default SIGPIPE
 * disposition, a plain write(2) there kills the process. nats.c ignores
 * SIGPIPE process-wide in nats_Open; we leave the application's signal
 * dispositions alone and write with MSG_NOSIGNAL.
 *
 * The peer is a minimal fake server on a loopback port of this process: it
 * answers the handshake and waits. The test finds the library's socket
 * (the descriptor whose peer is the fake server) and shuts its sending side
 * down, then publishes and flushes.
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static int listen_fd = -1;
/* The fake server keeps its socket open until main writes here. */
static int done_pipe[2] = {-1, -1};

/* Reads until `pattern` was seen or the peer closed; false on close. */
static bool
read_until(int fd, const char *pattern)
{
    char   buf[4096];
    char   window[64] = {0};
    size_t plen       = strlen(pattern);
    size_t wlen       = 0;

    for (;;)
    {
        ssize_t n = read(fd, buf, sizeof(buf));
        ssize_t i;
        if (n <= 0)
            return false;
        for (i = 0; i < n; i++)
        {
            if (wlen == sizeof(window) - 1)
            {
                memmove(window, window + 1, wlen - 1);
                wlen--;
            }
            window[wlen++] = buf[i];
            window[wlen]   = '\0';
            if ((wlen >= plen) && (memcmp(window + wlen - plen, pattern, plen) == 0))
                return true;
        }
    }
}

static void *
fake_server(void *arg)
{
    const char    *info = "INFO {\"server_id\":\"fake\",\"version\":\"2.10.0\",\"proto\":1,"
                          "\"headers\":true,\"max_payload\":1048576}\r\n";
    struct linger  lg   = {1, 0};
    int            fd;
    ssize_t        w;

    (void) arg;
    fd = accept(listen_fd, NULL, NULL);
    if (fd < 0)
        return NULL;
    w = write(fd, info, strlen(info));
    if ((w > 0) && read_until(fd, "PING\r\n"))
    {
        w = write(fd, "PONG\r\n", 6);
        /* Keep the socket open (no reset, no FIN) until the test is over:
         * the library must meet EPIPE on its own side. */
        if (w > 0)
        {
            char c;
            w = read(done_pipe[0], &c, 1);
        }
    }
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    return NULL;
}

int
main(void)
{
    struct sockaddr_in addr;
    socklen_t          alen = sizeof(addr);
    pthread_t          srv;
    natsOptions       *o    = NULL;
    natsConnection    *nc   = NULL;
    char               url[64];
    char               payload[1024];
    natsStatus         s;
    int                i, published = 0;

    memset(payload, 'p', sizeof(payload));
    memset(&addr, 0, sizeof(addr));
    addr.sin_family      = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    listen_fd            = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(listen_fd >= 0, "socket");
    CHECK(bind(listen_fd, (struct sockaddr *) &addr, sizeof(addr)) == 0, "bind to loopback");
    CHECK(listen(listen_fd, 1) == 0, "listen");
    CHECK(getsockname(listen_fd, (struct sockaddr *) &addr, &alen) == 0, "port");
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", (int) ntohs(addr.sin_port));
    CHECK(pipe(done_pipe) == 0, "pipe");
    CHECK(pthread_create(&srv, NULL, fake_server, NULL) == 0, "fake server thread");

    CHECK_STATUS(nats_Open(-1), NATS_OK, "nats_Open");
#ifdef NATS_LIBNATS_RS
    {
        struct sigaction sa;
        sigaction(SIGPIPE, NULL, &sa);
        CHECK(sa.sa_handler == SIG_DFL, "SIGPIPE disposition left alone by nats_Open");
    }
#endif
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetAllowReconnect(o, false);
    s = natsConnection_Connect(&nc, o);
    CHECK_STATUS(s, NATS_OK, "connect to the fake server");

    /* The library's socket: its peer is the fake server's port. */
    {
        int fd, found = -1;
        for (fd = 3; (fd < 1024) && (found < 0); fd++)
        {
            struct sockaddr_in peer;
            socklen_t          plen = sizeof(peer);
            if ((fd != listen_fd)
                && (getpeername(fd, (struct sockaddr *) &peer, &plen) == 0)
                && (peer.sin_family == AF_INET) && (peer.sin_port == addr.sin_port))
                found = fd;
        }
        CHECK(found >= 0, "found the library's socket");
        if (found >= 0)
            CHECK(shutdown(found, SHUT_WR) == 0, "shut its sending side down");
    }

    /* Publish until the library notices (bounded): its writes get EPIPE. */
    for (i = 0; (s == NATS_OK) && (i < 200000); i++)
    {
        s = natsConnection_Publish(nc, "sigpipe.test", payload, (int) sizeof(payload));
        if (s == NATS_OK)
            published++;
        if ((s == NATS_OK) && ((i % 64) == 0))
            s = natsConnection_FlushTimeout(nc, 2000);
    }
    fprintf(stderr, "published %d, then %d (%s)\n", published, (int) s, natsStatus_GetText(s));
    CHECK(s != NATS_OK, "the broken socket is noticed");
    CHECK(true, "the process survived writes into a broken socket");

    natsConnection_Destroy(nc);
    CHECK(write(done_pipe[1], "x", 1) == 1, "release the fake server");
    natsOptions_Destroy(o);
    pthread_join(srv, NULL);
    close(listen_fd);
    close(done_pipe[0]);
    close(done_pipe[1]);
    nats_Close();
    HARNESS_END();
}
