/*
 * bench.c - client benchmarks using only nats.c's public API, so the same
 * source builds against nats.c (-lnats from libnats-dev) and against
 * libnats-rs. scripts/bench.sh builds it twice and runs both in turn.
 *
 *   bench pub <size> <count>            publish, then flush
 *   bench pubsub <size> <count>         publish -> async subscriber, one process
 *   bench pubsub_sync <size> <count>    publish (thread) -> NextMsg loop
 *   bench reqrep <count>                sequential requests to a responder
 *   bench conns <n> [idle_seconds]      n connections, one subscription each
 *   bench idle <seconds>                one connection, 1 s ping interval
 *
 * The server is $NATS_URL (default nats://127.0.0.1:4222). Each run prints
 * one line "RESULT <scenario> key=value ..." on stdout; errors go to stderr
 * and exit non-zero.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

static const char *
url(void)
{
    const char *u = getenv("NATS_URL");
    return (u != NULL && u[0] != '\0') ? u : "nats://127.0.0.1:4222";
}

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CPU time (user + system) of the whole process, in ns. */
static int64_t
cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((int64_t) ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL
           + ((int64_t) ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
}

static void
die(const char *what, natsStatus s)
{
    fprintf(stderr, "bench: %s: %d %s (%s)\n", what, (int) s, natsStatus_GetText(s),
            nats_GetLastError(NULL));
    exit(1);
}

#define CHECKS(what, call)                                                                         \
    do {                                                                                           \
        natsStatus s_ = (call);                                                                    \
        if (s_ != NATS_OK)                                                                         \
            die((what), s_);                                                                       \
    } while (0)

/* Threads of this process (from /proc/self/task). */
static int
threads(void)
{
    DIR           *d = opendir("/proc/self/task");
    struct dirent *e;
    int            n = 0;
    while ((d != NULL) && ((e = readdir(d)) != NULL))
        n += (e->d_name[0] != '.');
    if (d != NULL)
        closedir(d);
    return n;
}

/* Resident set size in kB (VmRSS). */
static long
rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char  line[256];
    long  kb = -1;
    while ((f != NULL) && (fgets(line, sizeof(line), f) != NULL))
    {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    }
    if (f != NULL)
        fclose(f);
    return kb;
}

/* Context switches (voluntary + involuntary) of every thread: wakeups. */
static long
switches(void)
{
    DIR           *d = opendir("/proc/self/task");
    struct dirent *e;
    long           total = 0;
    while ((d != NULL) && ((e = readdir(d)) != NULL))
    {
        char  path[300], line[256];
        FILE *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        f = fopen(path, "r");
        while ((f != NULL) && (fgets(line, sizeof(line), f) != NULL))
        {
            if ((strncmp(line, "voluntary_ctxt_switches:", 24) == 0)
                || (strncmp(line, "nonvoluntary_ctxt_switches:", 27) == 0))
                total += atol(strchr(line, ':') + 1);
        }
        if (f != NULL)
            fclose(f);
    }
    if (d != NULL)
        closedir(d);
    return total;
}

static natsConnection *
connect_one(int64_t ping_ms)
{
    natsOptions    *o  = NULL;
    natsConnection *nc = NULL;
    CHECKS("options", natsOptions_Create(&o));
    CHECKS("url", natsOptions_SetURL(o, url()));
    CHECKS("pending", natsOptions_SetMaxPendingMsgs(o, 10000000));
    if (ping_ms > 0)
        CHECKS("ping", natsOptions_SetPingInterval(o, ping_ms));
    CHECKS("connect", natsConnection_Connect(&nc, o));
    natsOptions_Destroy(o);
    return nc;
}

/* ------------------------------------------------------------------------ */

static void
bench_pub(int size, long count)
{
    natsConnection *nc   = connect_one(0);
    char           *data = calloc(1, (size_t) size + 1);
    int64_t         t0, c0, t, c;
    long            i;

    memset(data, 'a', (size_t) size);
    t0 = now_ns();
    c0 = cpu_ns();
    for (i = 0; i < count; i++)
        CHECKS("publish", natsConnection_Publish(nc, "bench.pub", data, size));
    CHECKS("flush", natsConnection_FlushTimeout(nc, 60000));
    t = now_ns() - t0;
    c = cpu_ns() - c0;
    printf("RESULT pub size=%d count=%ld msgs_per_sec=%.0f cpu_ns_per_msg=%.1f elapsed_ms=%.1f\n",
           size, count, count / (t / 1e9), (double) c / count, t / 1e6);
    natsConnection_Destroy(nc);
    free(data);
}

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t  cond;
    long            got;
    long            want;
} counter;

static counter recv_count = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    (void) closure;
    natsMsg_Destroy(msg);
    pthread_mutex_lock(&recv_count.mu);
    if (++recv_count.got == recv_count.want)
        pthread_cond_signal(&recv_count.cond);
    pthread_mutex_unlock(&recv_count.mu);
}

static void
bench_pubsub(int size, long count)
{
    natsConnection   *nc   = connect_one(0);
    natsSubscription *sub  = NULL;
    char             *data = calloc(1, (size_t) size + 1);
    int64_t           t0, c0, t, c;
    long              i;

    memset(data, 'a', (size_t) size);
    recv_count.want = count;
    CHECKS("subscribe", natsConnection_Subscribe(&sub, nc, "bench.ps", on_msg, NULL));
    CHECKS("limits", natsSubscription_SetPendingLimits(sub, -1, -1));
    CHECKS("flush", natsConnection_Flush(nc));
    t0 = now_ns();
    c0 = cpu_ns();
    for (i = 0; i < count; i++)
        CHECKS("publish", natsConnection_Publish(nc, "bench.ps", data, size));
    CHECKS("flush", natsConnection_FlushTimeout(nc, 60000));
    pthread_mutex_lock(&recv_count.mu);
    while (recv_count.got < count)
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 60;
        if (pthread_cond_timedwait(&recv_count.cond, &recv_count.mu, &ts) != 0)
            break;
    }
    i = recv_count.got;
    pthread_mutex_unlock(&recv_count.mu);
    t = now_ns() - t0;
    c = cpu_ns() - c0;
    if (i < count)
    {
        fprintf(stderr, "bench: pubsub received %ld of %ld\n", i, count);
        exit(1);
    }
    printf("RESULT pubsub size=%d count=%ld msgs_per_sec=%.0f cpu_ns_per_msg=%.1f "
           "elapsed_ms=%.1f\n",
           size, count, count / (t / 1e9), (double) c / count, t / 1e6);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    free(data);
}

typedef struct {
    natsConnection *nc;
    int             size;
    long            count;
} pub_args;

static void *
publisher(void *arg)
{
    pub_args *a    = arg;
    char     *data = calloc(1, (size_t) a->size + 1);
    long      i;
    memset(data, 'a', (size_t) a->size);
    for (i = 0; i < a->count; i++)
        CHECKS("publish", natsConnection_Publish(a->nc, "bench.sync", data, a->size));
    CHECKS("flush", natsConnection_FlushTimeout(a->nc, 60000));
    free(data);
    return NULL;
}

static void
bench_pubsub_sync(int size, long count)
{
    natsConnection   *nc  = connect_one(0);
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    pthread_t         th;
    pub_args          a = {nc, size, count};
    int64_t           t0, c0, t, c;
    long              i;

    CHECKS("subscribe", natsConnection_SubscribeSync(&sub, nc, "bench.sync"));
    CHECKS("limits", natsSubscription_SetPendingLimits(sub, -1, -1));
    CHECKS("flush", natsConnection_Flush(nc));
    t0 = now_ns();
    c0 = cpu_ns();
    pthread_create(&th, NULL, publisher, &a);
    for (i = 0; i < count; i++)
    {
        CHECKS("next", natsSubscription_NextMsg(&msg, sub, 60000));
        natsMsg_Destroy(msg);
    }
    t = now_ns() - t0;
    c = cpu_ns() - c0;
    pthread_join(th, NULL);
    printf("RESULT pubsub_sync size=%d count=%ld msgs_per_sec=%.0f cpu_ns_per_msg=%.1f "
           "elapsed_ms=%.1f\n",
           size, count, count / (t / 1e9), (double) c / count, t / 1e6);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
}

static void
on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) sub;
    (void) closure;
    natsConnection_Publish(nc, natsMsg_GetReply(msg), "ok", 2);
    natsMsg_Destroy(msg);
}

static int
cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

static void
bench_reqrep(long count)
{
    natsConnection   *srv = connect_one(0);
    natsConnection   *nc  = connect_one(0);
    natsSubscription *sub = NULL;
    int64_t          *lat = calloc((size_t) count, sizeof(int64_t));
    int64_t           t0, t;
    long              i;

    CHECKS("subscribe", natsConnection_Subscribe(&sub, srv, "bench.req", on_request, NULL));
    CHECKS("flush", natsConnection_Flush(srv));
    /* Warm up: the request inbox subscription. */
    for (i = 0; i < 100; i++)
    {
        natsMsg *r = NULL;
        CHECKS("request", natsConnection_RequestString(&r, nc, "bench.req", "x", 5000));
        natsMsg_Destroy(r);
    }
    t0 = now_ns();
    for (i = 0; i < count; i++)
    {
        natsMsg *r  = NULL;
        int64_t  s0 = now_ns();
        CHECKS("request", natsConnection_RequestString(&r, nc, "bench.req", "x", 5000));
        lat[i] = now_ns() - s0;
        natsMsg_Destroy(r);
    }
    t = now_ns() - t0;
    qsort(lat, (size_t) count, sizeof(int64_t), cmp64);
    printf("RESULT reqrep count=%ld rps=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f\n",
           count, count / (t / 1e9), lat[count / 2] / 1e3, lat[count * 9 / 10] / 1e3,
           lat[count * 99 / 100] / 1e3, lat[count * 999 / 1000] / 1e3);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(srv);
    free(lat);
}

static void
bench_conns(long n, int idle_s)
{
    natsConnection   **ncs  = calloc((size_t) n, sizeof(*ncs));
    natsSubscription **subs = calloc((size_t) n, sizeof(*subs));
    struct rlimit      rl;
    int64_t            t0, t, c0, c;
    long               i, base_kb = rss_kb();
    int                base_threads = threads();

    if ((getrlimit(RLIMIT_NOFILE, &rl) == 0) && (rl.rlim_cur < rl.rlim_max))
    {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    t0 = now_ns();
    for (i = 0; i < n; i++)
    {
        ncs[i] = connect_one(0);
        CHECKS("subscribe", natsConnection_SubscribeSync(&subs[i], ncs[i], "bench.conns"));
    }
    t = now_ns() - t0;
    c0 = cpu_ns();
    sleep((unsigned) idle_s);
    c = cpu_ns() - c0;
    printf("RESULT conns n=%ld connect_ms=%.1f threads=%d rss_kb_per_conn=%.1f "
           "idle_cpu_ms=%.1f idle_s=%d\n",
           n, t / 1e6, threads() - base_threads, (double) (rss_kb() - base_kb) / n, c / 1e6,
           idle_s);
    for (i = 0; i < n; i++)
    {
        natsSubscription_Destroy(subs[i]);
        natsConnection_Destroy(ncs[i]);
    }
    free(ncs);
    free(subs);
}

static void
bench_idle(int seconds)
{
    natsConnection *nc = connect_one(1000);
    int64_t         c0, c;
    long            w0, w;

    /* Let the start-up settle. */
    CHECKS("flush", natsConnection_Flush(nc));
    sleep(1);
    c0 = cpu_ns();
    w0 = switches();
    sleep((unsigned) seconds);
    c = cpu_ns() - c0;
    w = switches() - w0;
    printf("RESULT idle seconds=%d cpu_us_per_sec=%.1f wakeups_per_sec=%.2f\n", seconds,
           c / 1e3 / seconds, (double) w / seconds);
    natsConnection_Destroy(nc);
}

int
main(int argc, char **argv)
{
    const char *what = (argc > 1) ? argv[1] : "";

    CHECKS("open", nats_Open(-1));
    if ((strcmp(what, "pub") == 0) && (argc == 4))
        bench_pub(atoi(argv[2]), atol(argv[3]));
    else if ((strcmp(what, "pubsub") == 0) && (argc == 4))
        bench_pubsub(atoi(argv[2]), atol(argv[3]));
    else if ((strcmp(what, "pubsub_sync") == 0) && (argc == 4))
        bench_pubsub_sync(atoi(argv[2]), atol(argv[3]));
    else if ((strcmp(what, "reqrep") == 0) && (argc == 3))
        bench_reqrep(atol(argv[2]));
    else if ((strcmp(what, "conns") == 0) && (argc >= 3))
        bench_conns(atol(argv[2]), (argc > 3) ? atoi(argv[3]) : 5);
    else if ((strcmp(what, "idle") == 0) && (argc == 3))
        bench_idle(atoi(argv[2]));
    else
    {
        fprintf(stderr, "usage: bench pub|pubsub|pubsub_sync <size> <count> | reqrep <count> |"
                        " conns <n> [idle_s] | idle <seconds>\n");
        return 2;
    }
    nats_Close();
    return 0;
}
