/*
 * raw_conns.c - the idle-connections floor: n plain sockets to the server of
 * $NATS_URL, each with one subscription, then one thread and one epoll set
 * answer the server's PINGs for idle_s seconds. No library: what any
 * single-threaded client must at least spend on n idle connections.
 *
 *   raw_conns <n> <idle_s>
 *   RESULT rawconns n=<n> connect_ms=<ms> idle_cpu_ms=<ms> pings=<count> idle_s=<s>
 */
#define _POSIX_C_SOURCE 200809L
#include "raw_common.h"

#include <sys/epoll.h>

int
main(int argc, char **argv)
{
    long               n      = (argc > 1) ? atol(argv[1]) : 1000;
    int                idle_s = (argc > 2) ? atoi(argv[2]) : 5;
    int               *fds, ep;
    long               i, pings = 0;
    int64_t            t0, t, c0, end;
    struct rlimit      rl;
    struct epoll_event ev, evs[256];

    if ((n <= 0) || (idle_s <= 0))
    {
        fprintf(stderr, "usage: raw_conns <n> <idle_s>\n");
        return 2;
    }
    if ((getrlimit(RLIMIT_NOFILE, &rl) == 0) && (rl.rlim_cur < rl.rlim_max))
    {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    fds = calloc((size_t) n, sizeof(*fds));
    ep  = epoll_create1(0);
    if ((fds == NULL) || (ep < 0))
    {
        perror("raw_conns: setup");
        return 1;
    }
    t0 = now_ns();
    for (i = 0; i < n; i++)
    {
        char sub[64];
        int  len = snprintf(sub, sizeof(sub), "SUB bench.conns %ld\r\n", i + 1);
        fds[i]   = dial();
        write_all(fds[i], sub, (size_t) len);
        ev.events  = EPOLLIN;
        ev.data.fd = fds[i];
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0)
        {
            perror("raw_conns: epoll_ctl");
            return 1;
        }
    }
    t   = now_ns() - t0;
    c0  = cpu_ns();
    end = now_ns() + (int64_t) idle_s * 1000000000LL;
    for (;;)
    {
        int64_t left = end - now_ns();
        int     k, j;
        if (left <= 0)
            break;
        k = epoll_wait(ep, evs, 256, (int) ((left + 999999) / 1000000));
        for (j = 0; j < k; j++)
        {
            char    buf[4096];
            ssize_t r = recv(evs[j].data.fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
            char   *p;
            if (r <= 0)
            {
                fprintf(stderr, "raw_conns: connection closed\n");
                return 1;
            }
            buf[r] = '\0';
            for (p = buf; (p = strstr(p, "PING\r\n")) != NULL; p += 6)
            {
                write_all(evs[j].data.fd, "PONG\r\n", 6);
                pings++;
            }
        }
    }
    printf("RESULT rawconns n=%ld connect_ms=%.1f idle_cpu_ms=%.1f pings=%ld idle_s=%d\n", n,
           t / 1e6, (cpu_ns() - c0) / 1e6, pings, idle_s);
    for (i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    close(ep);
    return 0;
}
