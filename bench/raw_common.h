/*
 * raw_common.h - what the raw-socket programs (raw_pub.c, raw_reqrep.c)
 * share: clocks, whole writes, reading up to a pattern, and a plain socket
 * to the server of $NATS_URL with the minimal handshake done.
 */
#ifndef RAW_COMMON_H
#define RAW_COMMON_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static inline int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int64_t
cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t) ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL
           + ((int64_t) ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static inline void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0)
    {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
        {
            perror("raw: write");
            exit(1);
        }
        p += w;
        n -= (size_t) w;
    }
}

/* Reads until `pattern` has been seen in the bytes read since the call (the
 * protocol is text: the buffer is searched as a string). */
static inline void
read_until(int fd, const char *pattern)
{
    char   buf[65536];
    size_t have = 0, pl = strlen(pattern);
    for (;;)
    {
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
        {
            fprintf(stderr, "raw: connection closed\n");
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

/* A plain socket to the server of $NATS_URL (nats://host:port, default
 * 127.0.0.1:4222), TCP_NODELAY, INFO read, CONNECT and PING sent, PONG read. */
static inline int
dial(void)
{
    const char        *u        = getenv("NATS_URL");
    char               host[64] = "127.0.0.1";
    int                port     = 4222, one = 1, fd;
    struct sockaddr_in addr;
    const char        *hello =
        "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nPING\r\n";

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
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port   = htons((uint16_t) port);
    inet_pton(AF_INET, host, &addr.sin_addr);
    if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
    {
        perror("raw: connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    read_until(fd, "\r\n"); /* INFO */
    write_all(fd, hello, strlen(hello));
    read_until(fd, "PONG\r\n");
    return fd;
}

#endif
