/*
 * raw_pub.c - the raw-socket ceiling: how fast any client could publish to
 * this server. Writes pre-encoded "PUB bench.raw <size>" frames in large
 * batches on a plain socket (after a minimal handshake), then PING and waits
 * for the PONG, like a flush.
 *
 *   raw_pub <size> <count>      (server: $NATS_URL host:port, default 127.0.0.1:4222)
 *
 * Prints "RESULT raw size=... count=... msgs_per_sec=... cpu_ns_per_msg=...".
 */
#define _POSIX_C_SOURCE 200809L
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

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t
cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t) ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL
           + ((int64_t) ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static void
write_all(int fd, const char *p, size_t n)
{
    while (n > 0)
    {
        ssize_t w = write(fd, p, n);
        if (w <= 0)
        {
            perror("raw_pub: write");
            exit(1);
        }
        p += w;
        n -= (size_t) w;
    }
}

/* Reads until `pattern` is seen (the server's reply to our PING). */
static void
read_until(int fd, const char *pattern)
{
    char   buf[65536];
    size_t have = 0;
    for (;;)
    {
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
        {
            fprintf(stderr, "raw_pub: connection closed\n");
            exit(1);
        }
        have += (size_t) r;
        buf[have] = '\0';
        if (strstr(buf, pattern) != NULL)
            return;
        if (have > sizeof(buf) / 2)
        {
            /* Keep the tail only. */
            memmove(buf, buf + have - 16, 16);
            have = 16;
        }
    }
}

int
main(int argc, char **argv)
{
    const char        *u    = getenv("NATS_URL");
    char               host[64] = "127.0.0.1";
    int                port = 4222, size, one = 1, fd;
    long               count, per_batch, sent = 0;
    struct sockaddr_in addr;
    char               hdr[64], *frame, *batch;
    size_t             flen, blen;
    int64_t            t0, c0, t, c;

    if (argc != 3)
    {
        fprintf(stderr, "usage: raw_pub <size> <count>\n");
        return 2;
    }
    size  = atoi(argv[1]);
    count = atol(argv[2]);
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
        perror("raw_pub: connect");
        return 1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    read_until(fd, "\r\n"); /* INFO */
    {
        const char *hello = "CONNECT {\"verbose\":false,\"pedantic\":false,\"protocol\":1}\r\nPING\r\n";
        write_all(fd, hello, strlen(hello));
        read_until(fd, "PONG\r\n");
    }
    /* One frame, repeated into a ~64 KiB batch. */
    snprintf(hdr, sizeof(hdr), "PUB bench.raw %d\r\n", size);
    flen  = strlen(hdr) + (size_t) size + 2;
    frame = malloc(flen);
    memcpy(frame, hdr, strlen(hdr));
    memset(frame + strlen(hdr), 'a', (size_t) size);
    memcpy(frame + flen - 2, "\r\n", 2);
    per_batch = (long) (65536 / flen);
    if (per_batch < 1)
        per_batch = 1;
    batch = malloc(flen * (size_t) per_batch);
    for (long i = 0; i < per_batch; i++)
        memcpy(batch + (size_t) i * flen, frame, flen);

    t0 = now_ns();
    c0 = cpu_ns();
    while (sent < count)
    {
        long n = (count - sent < per_batch) ? count - sent : per_batch;
        blen   = flen * (size_t) n;
        write_all(fd, batch, blen);
        sent += n;
    }
    write_all(fd, "PING\r\n", 6);
    read_until(fd, "PONG\r\n");
    t = now_ns() - t0;
    c = cpu_ns() - c0;
    printf("RESULT raw size=%d count=%ld msgs_per_sec=%.0f cpu_ns_per_msg=%.1f elapsed_ms=%.1f\n",
           size, count, count / (t / 1e9), (double) c / count, t / 1e6);
    close(fd);
    free(frame);
    free(batch);
    return 0;
}
