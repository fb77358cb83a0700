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
#include "raw_common.h"

static int
cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
    int         req, rep;
    long        count, i;
    int64_t    *lat, t0, t;
    const char *request = "PUB bench.rawreq _INBOX.raw 1\r\nx\r\n";
    const char *reply   = "PUB _INBOX.raw 2\r\nok\r\n";

    if (argc != 2)
    {
        fprintf(stderr, "usage: raw_reqrep <count>\n");
        return 2;
    }
    count = atol(argv[1]);
    if (count < 1)
        return 2;
    req = dial();
    rep = dial();
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
