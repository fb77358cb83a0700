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
#include "raw_common.h"

int
main(int argc, char **argv)
{
    int     size, fd;
    long    count, per_batch, sent = 0;
    char    hdr[64], *frame, *batch;
    size_t  flen, blen;
    int64_t t0, c0, t, c;

    if (argc != 3)
    {
        fprintf(stderr, "usage: raw_pub <size> <count>\n");
        return 2;
    }
    size  = atoi(argv[1]);
    count = atol(argv[2]);
    fd    = dial();
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
