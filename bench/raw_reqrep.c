/*
 * raw_reqrep.c - the raw-socket floor for request/reply: one thread, two
 * plain sockets (requester and responder), no library. Each round trip
 * writes a request on one socket, reads it on the other, writes the reply
 * and reads it back: the server's work plus the kernel's, with no thread
 * hand-off in the client at all. No client can do a round trip faster on
 * this server.
 *
 * With "2" the responder runs on a thread of its own, as in bench.c (whose
 * responder is an asynchronous subscription): the floor for a client whose
 * requester and responder are different threads, each blocking in its read.
 *
 *   raw_reqrep <count> [1|2]    (server: $NATS_URL host:port, default 127.0.0.1:4222)
 *
 * Prints "RESULT rawrr count=... rps=... p50_us=... p90_us=... p99_us=... p999_us=...".
 */
#define _POSIX_C_SOURCE 200809L
#include "raw_common.h"

#include <pthread.h>

static const char *request = "PUB bench.rawreq _INBOX.raw 1\r\nx\r\n";
static const char *reply   = "PUB _INBOX.raw 2\r\nok\r\n";

struct responder
{
    int  fd;
    long count;
};

static void *
respond(void *arg)
{
    struct responder *r = arg;
    long              i;
    for (i = 0; i < r->count; i++)
    {
        read_until(r->fd, "\r\nx\r\n");
        write_all(r->fd, reply, strlen(reply));
    }
    return NULL;
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
    int              req, rep, threads = (argc == 3) ? atoi(argv[2]) : 1;
    long             count, i;
    int64_t         *lat, t0, t;
    pthread_t        th;
    struct responder r;

    if ((argc < 2) || (argc > 3) || (threads < 1) || (threads > 2))
    {
        fprintf(stderr, "usage: raw_reqrep <count> [1|2]\n");
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
    r.fd    = rep;
    r.count = count;
    if ((threads == 2) && (pthread_create(&th, NULL, respond, &r) != 0))
    {
        perror("raw_reqrep: pthread_create");
        return 1;
    }
    t0 = now_ns();
    for (i = 0; i < count; i++)
    {
        int64_t s0 = now_ns();
        write_all(req, request, strlen(request));
        if (threads == 1)
        {
            read_until(rep, "\r\nx\r\n");
            write_all(rep, reply, strlen(reply));
        }
        read_until(req, "\r\nok\r\n");
        lat[i] = now_ns() - s0;
    }
    t = now_ns() - t0;
    if (threads == 2)
        pthread_join(th, NULL);
    qsort(lat, (size_t) count, sizeof(int64_t), cmp64);
    printf("RESULT rawrr threads=%d count=%ld rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f\n",
           threads, count, count / (t / 1e9), lat[count / 2] / 1e3, lat[count * 9 / 10] / 1e3,
           lat[count * 99 / 100] / 1e3, lat[count * 999 / 1000] / 1e3);
    free(lat);
    close(req);
    close(rep);
    return 0;
}
