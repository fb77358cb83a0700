/*
 * raw_reqrep.c - the raw-socket floor for request/reply: one thread, two
 * plain sockets (requester and responder), no library. Each round trip
 * writes a request on one socket, reads it on the other, writes the reply
 * and reads it back: the server's work plus the kernel's, with no thread
 * hand-off in the client at all. No client can do a round trip faster on
 * this server.
 *
 *   raw_reqrep <count>          (server: $NATS_URL host:port, default 127.0.0.1:4222)
 *
 * Prints "RESULT rawrr count=... rps=... p50_us=... p90_us=... p99_us=... p999_us=...".
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0)
    {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
        {
            perror("raw_reqrep: write");
            exit(1);
        }
        p += w;
        n -= (size_t) w;
    }
}

/* Reads until `pattern` has been seen in the bytes read since the call
 * (the protocol is text: the buffer is searched as a string). */
static void
read_until(int fd, const char *pattern)
{
    char   buf[4096];
    size_t have = 0, pl = strlen(pattern);
    for (;;)
    {
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
        {
            fprintf(stderr, "raw_reqrep: connection closed\n");
            exit(1);
        }
        have += (size_t) r;
        buf[have] = '\0';
        if (strstr(buf, pattern) != NULL)
            return;
        if (have > sizeof(buf) / 2)
        {
            /* Keep a tail that may hold the start of the pattern. */
            memmove(buf, buf + have - pl, pl);
            have = pl;
        }
    }
}

static int
dial(const char *host, int port)
{
    struct sockaddr_in addr;
    int                one = 1;
    int                fd  = socket(AF_INET, SOCK_STREAM, 0);
    const char        *hello =
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nPING\r\n";

    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port   = htons((uint16_t) port);
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
    {
        perror("raw_reqrep: connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    read_until(fd, "\r\n"); /* INFO */
    write_all(fd, hello, strlen(hello));
    read_until(fd, "PONG\r\n");
    return fd;
}

static int
cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    const char *u        = getenv("NATS_URL");
    char        host[64] = "127.0.0.1";
    int         port     = 4222, req, rep;
    long        count, i;
    int64_t    *lat, t0, t;
    const char *request  = "PUB bench.rawreq _INBOX.raw 1\r\nx\r\n";
    const char *reply    = "PUB _INBOX.raw 2\r\nok\r\n";

    if (argc != 2)
    {
        fprintf(stderr, "usage: raw_reqrep <count>\n");
        return 2;
    }
    count = atol(argv[1]);
    if (count < 1)
        return 2;
    if ((u != NULL) && (strncmp(u, "nats://", 7) == 0))
    {
        const char *colon = strrchr(u + 7, ':');
        if ((colon != NULL) && ((size_t) (colon - (u + 7)) < sizeof(host)))
        {
            memcpy(host, u + 7, (size_t) (colon - (u + 7)));
            host[colon - (u + 7)] = '\0';
            port                  = atoi(colon + 1);
        }
    }
    req = dial(host, port);
    rep = dial(host, port);
    write_all(rep, "SUB bench.rawreq 1\r\nPING\r\n", 26);
    read_until(rep, "PONG\r\n");
    write_all(req, "SUB _INBOX.raw 1\r\nPING\r\n", 24);
    read_until(req, "PONG\r\n");
    lat = calloc((size_t) count, sizeof(int64_t));
    t0  = now_ns();
    for (i = 0; i < count; i++)
    {
        int64_t s0 = now_ns();
        write_all(req, request, strlen(request));
        read_until(rep, "\r\nx\r\n");
        write_all(rep, reply, strlen(reply));
        read_until(req, "\r\nok\r\n");
        lat[i] = now_ns() - s0;
    }
    t = now_ns() - t0;
    qsort(lat, (size_t) count, sizeof(int64_t), cmp64);
    printf("RESULT rawrr count=%ld rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f\n",
           count, count / (t / 1e9), lat[count / 2] / 1e3, lat[count * 9 / 10] / 1e3,
           lat[count * 99 / 100] / 1e3, lat[count * 999 / 1000] / 1e3);
    free(lat);
    close(req);
    close(rep);
    return 0;
}
