/*
 * stale_demo.c - a server that stops answering, as a NATS client sees it.
 *
 * The story: a connection goes stale. Nothing is closed - the server process
 * is still there, its TCP socket still accepts bytes - it just never answers
 * again. Only the client's PINGs can tell. With a short ping interval and a
 * small "max pings out", the client declares the connection stale
 * (NATS_STALE_CONNECTION), fails over to the next server, and replays what
 * was published while it was reconnecting.
 *
 * Timeline:
 *   1. start two local nats-server processes (not clustered);
 *   2. an independent subscriber connects to server 2 and counts what arrives;
 *   3. the demo connection connects to server 1 (server list: 1, then 2;
 *      no randomization; ping every 500 ms; 2 pings out max);
 *   4. server 1 is frozen with SIGSTOP; the demo publishes one numbered
 *      message every 10 ms, through detection and failover to server 2;
 *      server 2 is paused too and resumed 500 ms after the detection, so
 *      the client has to buffer what is published while it reconnects;
 *   5. summary: how long detection and failover took, and which published
 *      messages reached the subscriber. Messages published before the stale
 *      connection was detected went into the frozen server's socket; no
 *      client can deliver those, but the interesting question is whether the
 *      application can tell.
 *
 * Only the public nats.c API is used, so this file builds against nats.c 3.x
 * and against libnats-rs. libnats-rs's connection-health extension is used
 * when the header defines NATS_EXT_CONN_HEALTH.
 *
 * The nats-server binary: $NATS_SERVER_BIN, else "nats-server" on PATH.
 *
 * Output: one line per event, "[elapsed ms] ...", and at the end lines
 * starting with "RESULT " with key=value pairs for scripts.
 * Exit status: 0 when the demo ran (whatever the library lost), 1 when it
 * could not be set up.
 *
 * Build: cc -Wall -Wextra -Werror -std=c11 -D_GNU_SOURCE stale_demo.c -lnats -pthread
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#define SUBJECT            "stale.demo"
#define WARMUP_MSGS        5
#define PUBLISH_EVERY_MS   10
#define AFTER_RECONNECT    10     /* publishes after the reconnected callback */
#define MAX_SEQ            2048   /* numbered messages: 1 .. MAX_SEQ-1 */
#define SERVER_READY_MS    5000
#define FAILOVER_LIMIT_MS  6000   /* freeze -> reconnected, at most */
#define FLUSH_TIMEOUT_MS   2000
#define DELIVERY_WAIT_MS   3000
#define PING_INTERVAL_MS   500
#define MAX_PINGS_OUT      2
#define SLOW_TAKEOVER_MS   500    /* server 2 resumes this long after detection */

/* ------------------------------------------------------------------------ */
/* time and output                                                          */

static int64_t g_start_ns;

static int64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long
ms_between(int64_t from_ns, int64_t to_ns)
{
    return (long long) ((to_ns - from_ns) / 1000000LL);
}

static void
sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* One line per event, prefixed with the time since the start; callbacks run
 * on library threads, so each line is written under stdout's lock. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
say(const char *fmt, ...)
{
    va_list ap;
    flockfile(stdout);
    printf("[%6lld ms] ", ms_between(g_start_ns, now_ns()));
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
    funlockfile(stdout);
}

static const char *
conn_status_name(natsConnStatus s)
{
    switch (s) {
    case NATS_CONN_STATUS_DISCONNECTED:   return "DISCONNECTED";
    case NATS_CONN_STATUS_CONNECTING:     return "CONNECTING";
    case NATS_CONN_STATUS_CONNECTED:      return "CONNECTED";
    case NATS_CONN_STATUS_CLOSED:         return "CLOSED";
    case NATS_CONN_STATUS_RECONNECTING:   return "RECONNECTING";
    case NATS_CONN_STATUS_DRAINING_SUBS:  return "DRAINING_SUBS";
    case NATS_CONN_STATUS_DRAINING_PUBS:  return "DRAINING_PUBS";
    }
    return "?";
}

/* ------------------------------------------------------------------------ */
/* the two servers                                                          */

typedef struct {
    pid_t pid;
    int   port;
    char  url[64];
} server_t;

static server_t g_srv[2];

/* Free loopback ports: bind to port 0, read the port back, close. Both
 * sockets stay open until both ports are known, so they differ. */
static int
pick_ports(int *ports, int n)
{
    int fds[2] = {-1, -1};
    int rc = 0;

    for (int i = 0; i < n && i < 2; i++) {
        struct sockaddr_in a;
        socklen_t          len = sizeof(a);

        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0) { rc = -1; break; }
        memset(&a, 0, sizeof(a));
        a.sin_family      = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port        = 0;
        if (bind(fds[i], (struct sockaddr *) &a, sizeof(a)) != 0
            || getsockname(fds[i], (struct sockaddr *) &a, &len) != 0) {
            rc = -1;
            break;
        }
        ports[i] = ntohs(a.sin_port);
    }
    for (int i = 0; i < 2; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

static bool
tcp_accepts(int port)
{
    struct sockaddr_in a;
    bool               ok;
    int                fd = socket(AF_INET, SOCK_STREAM, 0);

    if (fd < 0)
        return false;
    memset(&a, 0, sizeof(a));
    a.sin_family      = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port        = htons((uint16_t) port);
    ok = (connect(fd, (struct sockaddr *) &a, sizeof(a)) == 0);
    close(fd);
    return ok;
}

static int
start_server(server_t *s, const char *bin)
{
    char  port[16];
    pid_t parent = getpid();
    pid_t pid;

    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);

    pid = fork();
    if (pid < 0) {
        fprintf(stderr, "stale_demo: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Child: die with the demo, keep quiet, become nats-server. */
        int devnull;

        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(126);
        signal(SIGPIPE, SIG_DFL);
        devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            dup2(devnull, STDOUT_FILENO);
            dup2(devnull, STDERR_FILENO);
            if (devnull > STDERR_FILENO)
                close(devnull);
        }
        if (strchr(bin, '/') != NULL)
            execl(bin, bin, "-a", "127.0.0.1", "-p", port, (char *) NULL);
        else
            execlp(bin, bin, "-a", "127.0.0.1", "-p", port, (char *) NULL);
        _exit(127);
    }
    s->pid = pid;

    /* Bounded wait until it accepts TCP connections (or exits). */
    for (int64_t deadline = now_ns() + (int64_t) SERVER_READY_MS * 1000000LL;;) {
        int status;

        if (waitpid(pid, &status, WNOHANG) == pid) {
            s->pid = 0;
            fprintf(stderr, "stale_demo: %s exited early (status %d); is it a nats-server?\n",
                    bin, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
            return -1;
        }
        if (tcp_accepts(s->port))
            return 0;
        if (now_ns() > deadline) {
            fprintf(stderr, "stale_demo: %s on port %d not ready after %d ms\n",
                    bin, s->port, SERVER_READY_MS);
            return -1;
        }
        sleep_ms(20);
    }
}

/* Freeze: the process stops; the kernel keeps its sockets open and keeps
 * accepting bytes into their buffers, but nothing is read or answered. */
static int
freeze_server(server_t *s)
{
    if (s->pid <= 0 || kill(s->pid, SIGSTOP) != 0)
        return -1;
    /* Bounded wait for the stop to take effect. */
    for (int i = 0; i < 100; i++) {
        int status;
        if (waitpid(s->pid, &status, WNOHANG | WUNTRACED) == s->pid && WIFSTOPPED(status))
            return 0;
        sleep_ms(10);
    }
    return -1;
}

/* Resume a frozen server. */
static void
thaw_server(server_t *s)
{
    if (s->pid > 0)
        kill(s->pid, SIGCONT);
}

static _Atomic int64_t g_disc_ns; /* first disconnected callback after the freeze */

/* Resumes server 2 SLOW_TAKEOVER_MS after the detection, on its own thread:
 * the publishing thread may be blocked inside the library meanwhile. */
static void *
thaw_later(void *arg)
{
    (void) arg;
    for (int i = 0; i < (FAILOVER_LIMIT_MS + SLOW_TAKEOVER_MS) / 5; i++) {
        int64_t d = atomic_load(&g_disc_ns);
        if (d != 0 && now_ns() - d >= (int64_t) SLOW_TAKEOVER_MS * 1000000LL)
            break;
        sleep_ms(5);
    }
    thaw_server(&g_srv[1]);
    say("server 2 resumed; what was published meanwhile waits in the reconnect buffer");
    return NULL;
}

static void
stop_server(server_t *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGCONT);
    kill(s->pid, SIGKILL);
    while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    s->pid = 0;
}

/* ------------------------------------------------------------------------ */
/* shared state (callbacks run on library threads)                          */

enum { PH_BEFORE_DETECTION = 0, PH_RECONNECTING = 1, PH_AFTER_RECONNECT = 2 };

static const char *phase_name[] = {"before detection", "while reconnecting", "after reconnect"};

typedef struct {
    natsStatus st;
    int        phase;
    int64_t    at_ns;
} pubrec_t;

static pubrec_t         g_pub[MAX_SEQ];
static int              g_recv[MAX_SEQ];
static int              g_recv_other;
static pthread_mutex_t  g_mu   = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t   g_cond = PTHREAD_COND_INITIALIZER;

static _Atomic int64_t  g_freeze_ns;      /* 0 until server 1 is frozen */
static _Atomic int64_t  g_reconn_ns;      /* first reconnected callback after the freeze */
static _Atomic int      g_disc_count;
static _Atomic int      g_reconn_count;
static _Atomic int      g_closed_count;

/* What the disconnected callback saw as the connection's last error. */
static natsStatus       g_cb_err = NATS_OK;
static char             g_cb_err_txt[256];

/* ------------------------------------------------------------------------ */
/* callbacks                                                                */

static void
on_disconnected(natsConnection *nc, void *closure)
{
    int64_t     now    = now_ns();
    int64_t     t0     = atomic_load(&g_freeze_ns);
    const char *txt    = NULL;
    natsStatus  err    = natsConnection_GetLastError(nc, &txt);
    int         n      = atomic_fetch_add(&g_disc_count, 1);

    (void) closure;
    if (txt == NULL)
        txt = "";
    if (t0 == 0) {
        say("disconnected callback (before the freeze!): last error %s \"%s\"",
            natsStatus_GetText(err), txt);
        return;
    }
    if (n == 0) {
        pthread_mutex_lock(&g_mu);
        g_cb_err = err;
        snprintf(g_cb_err_txt, sizeof(g_cb_err_txt), "%s", txt);
        pthread_mutex_unlock(&g_mu);
        atomic_store(&g_disc_ns, now);
    }
    if (n == 0)
        say("stale connection detected (disconnected callback) %lld ms after the freeze; "
            "status %s; last error: %s (%d) \"%s\"%s",
            ms_between(t0, now), conn_status_name(natsConnection_Status(nc)),
            natsStatus_GetText(err), (int) err, txt,
            err == NATS_OK ? "  <- the library kept no cause" : "");
    else
        say("disconnected callback #%d, %lld ms after the freeze; status %s; last error: %s (%d) \"%s\"",
            n + 1, ms_between(t0, now), conn_status_name(natsConnection_Status(nc)),
            natsStatus_GetText(err), (int) err, txt);
}

static void
on_reconnected(natsConnection *nc, void *closure)
{
    int64_t now = now_ns();
    int64_t t0  = atomic_load(&g_freeze_ns);
    char    url[256];

    (void) closure;
    if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK)
        snprintf(url, sizeof(url), "?");
    if (atomic_fetch_add(&g_reconn_count, 1) == 0 && t0 != 0)
        atomic_store(&g_reconn_ns, now);
    if (t0 != 0)
        say("reconnected to %s after %lld ms (since the freeze)", url, ms_between(t0, now));
    else
        say("reconnected to %s (before the freeze!)", url);
}

static void
on_closed(natsConnection *nc, void *closure)
{
    (void) nc;
    (void) closure;
    atomic_fetch_add(&g_closed_count, 1);
    say("connection closed (closed callback)");
}

/* The independent subscriber: counts numbered messages ("seq=N ..."). */
static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char buf[64];
    int  len = natsMsg_GetDataLength(msg);
    int  seq = 0;

    (void) nc;
    (void) sub;
    (void) closure;
    if (len < 0)
        len = 0;
    if (len > (int) sizeof(buf) - 1)
        len = (int) sizeof(buf) - 1;
    memcpy(buf, natsMsg_GetData(msg), (size_t) len);
    buf[len] = '\0';
    natsMsg_Destroy(msg);

    pthread_mutex_lock(&g_mu);
    if (sscanf(buf, "seq=%d", &seq) == 1 && seq > 0 && seq < MAX_SEQ)
        g_recv[seq]++;
    else
        g_recv_other++;
    pthread_cond_broadcast(&g_cond);
    pthread_mutex_unlock(&g_mu);
}

/* ------------------------------------------------------------------------ */
/* the libnats-rs health extension                                          */

#ifdef NATS_EXT_CONN_HEALTH
static void
print_health(natsConnection *nc, const char *when)
{
    natsConnHealth h;
    natsStatus     s;
    char           rtt[32];
    char           idle[32];

    memset(&h, 0, sizeof(h));
    s = natsConnection_GetHealth(nc, &h);
    if (s != NATS_OK) {
        say("health (%s): unavailable: %s", when, natsStatus_GetText(s));
        return;
    }
    if (h.lastRttNs < 0)
        snprintf(rtt, sizeof(rtt), "none yet");
    else
        snprintf(rtt, sizeof(rtt), "%.3f ms", (double) h.lastRttNs / 1e6);
    if (h.sinceLastReadMs < 0)
        snprintf(idle, sizeof(idle), "nothing yet");
    else
        snprintf(idle, sizeof(idle), "%" PRId64 " ms", h.sinceLastReadMs);
    say("health (%s): status %s, pingsOut %d/%d, pingInterval %" PRId64 " ms, "
        "lastRtt %s, sinceLastRead %s, reconnects %" PRIu64 ", lastError %s",
        when, conn_status_name(h.status), h.pingsOut, h.maxPingsOut,
        h.pingIntervalMs, rtt, idle, h.reconnects, natsStatus_GetText(h.lastError));
}
#endif

/* ------------------------------------------------------------------------ */
/* summary helpers                                                          */

/* Appends "a-b" / "a" ranges of the sequence numbers in `pick` to out. */
static void
format_ranges(const bool *pick, int maxSeq, char *out, size_t outLen)
{
    size_t used = 0;
    int    n    = 0;

    out[0] = '\0';
    for (int i = 1; i < maxSeq; i++) {
        int j;
        int w;

        if (!pick[i])
            continue;
        for (j = i; j + 1 < maxSeq && pick[j + 1]; j++)
            ;
        if (i == j)
            w = snprintf(out + used, outLen - used, "%s#%d", n ? ", " : "", i);
        else
            w = snprintf(out + used, outLen - used, "%s#%d-#%d", n ? ", " : "", i, j);
        if (w < 0 || (size_t) w >= outLen - used) {
            snprintf(out + (outLen > 5 ? outLen - 5 : 0), outLen > 5 ? 5 : outLen, "...");
            return;
        }
        used += (size_t) w;
        n++;
        i = j;
    }
    if (n == 0)
        snprintf(out, outLen, "none");
}

/* "Stale Connection" -> "Stale_Connection", for key=value output. */
static void
token(const char *in, char *out, size_t outLen)
{
    size_t i = 0;
    for (; in[i] != '\0' && i + 1 < outLen; i++)
        out[i] = (in[i] == ' ' || in[i] == '\t' || in[i] == '=') ? '_' : in[i];
    out[i] = '\0';
    if (i == 0)
        snprintf(out, outLen, "-");
}

/* ------------------------------------------------------------------------ */

int
main(void)
{
    natsOptions      *opts   = NULL;
    natsConnection   *nc     = NULL;
    natsConnection   *subNc  = NULL;
    natsSubscription *sub    = NULL;
    natsStatistics   *stats  = NULL;
    natsStatus        s;
    const char       *bin;
    const char       *servers[2];
    char              url[256];
    int               ports[2];
    int               rc      = 1;
    int               lastSeq = 0;
    int               failByStatus[64];
    uint64_t          reconnects = 0;
    uint64_t          inMsgs = 0, inBytes = 0, outMsgs = 0, outBytes = 0;
    natsStatus        firstFlush = NATS_OK;
    pthread_t         thawer;
    bool              thawerStarted = false;

    g_start_ns = now_ns();
    memset(failByStatus, 0, sizeof(failByStatus));

    bin = getenv("NATS_SERVER_BIN");
    if (bin == NULL || bin[0] == '\0')
        bin = "nats-server";

    say("stale connection demo, NATS client library %s", nats_GetVersion());
#ifdef NATS_EXT_CONN_HEALTH
    say("this library has the connection-health extension (NATS_EXT_CONN_HEALTH)");
#else
    say("this library has no connection-health extension (NATS_EXT_CONN_HEALTH undefined)");
#endif

    /* ---- setup: two servers ---------------------------------------------- */
    if (pick_ports(ports, 2) != 0) {
        fprintf(stderr, "stale_demo: cannot pick free ports: %s\n", strerror(errno));
        goto out;
    }
    g_srv[0].port = ports[0];
    g_srv[1].port = ports[1];
    for (int i = 0; i < 2; i++) {
        if (start_server(&g_srv[i], bin) != 0)
            goto out;
        say("server %d: %s (pid %d)", i + 1, g_srv[i].url, (int) g_srv[i].pid);
    }
    signal(SIGPIPE, SIG_IGN);

    s = nats_Open(-1);
    if (s != NATS_OK) {
        fprintf(stderr, "stale_demo: nats_Open: %s\n", natsStatus_GetText(s));
        goto out;
    }

    /* ---- the independent subscriber, on server 2 only --------------------- */
    s = natsConnection_ConnectTo(&subNc, g_srv[1].url);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&sub, subNc, SUBJECT, on_msg, NULL);
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(subNc, FLUSH_TIMEOUT_MS);
    if (s != NATS_OK) {
        fprintf(stderr, "stale_demo: subscriber on server 2: %s\n", natsStatus_GetText(s));
        goto out;
    }
    say("independent subscriber connected to server 2, subscribed to \"%s\"", SUBJECT);

    /* ---- the demo connection --------------------------------------------- */
    servers[0] = g_srv[0].url;
    servers[1] = g_srv[1].url;
    s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetServers(opts, servers, 2);
    if (s == NATS_OK) s = natsOptions_SetNoRandomize(opts, true);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 5000);
    if (s == NATS_OK) s = natsOptions_SetPingInterval(opts, PING_INTERVAL_MS);
    if (s == NATS_OK) s = natsOptions_SetMaxPingsOut(opts, MAX_PINGS_OUT);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 100);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(opts, on_reconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, on_closed, NULL);
    if (s != NATS_OK) {
        fprintf(stderr, "stale_demo: options: %s\n", natsStatus_GetText(s));
        goto out;
    }
    s = natsConnection_Connect(&nc, opts);
    if (s != NATS_OK) {
        fprintf(stderr, "stale_demo: connect: %s\n", natsStatus_GetText(s));
        goto out;
    }
    if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK)
        snprintf(url, sizeof(url), "?");
    say("connected to %s (servers: 1 then 2, no randomize; ping every %d ms, "
        "stale after %d pings without PONG; reconnect wait 100 ms)",
        url, PING_INTERVAL_MS, MAX_PINGS_OUT);
#ifdef NATS_EXT_CONN_HEALTH
    /* The seed story's natsConnection_SetPingInterval(nc, 30) does not exist
     * in nats.c; libnats-rs has it (seconds) and a millisecond variant.
     * Same value as the option, so both libraries run the same timeline. */
    s = natsConnection_SetPingIntervalMs(nc, PING_INTERVAL_MS);
    say("natsConnection_SetPingIntervalMs(nc, %d): %s", PING_INTERVAL_MS, natsStatus_GetText(s));
    print_health(nc, "connected");
#endif

    for (int i = 1; i <= WARMUP_MSGS && s == NATS_OK; i++) {
        char payload[32];
        snprintf(payload, sizeof(payload), "warmup=%d", i);
        s = natsConnection_PublishString(nc, SUBJECT, payload);
    }
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(nc, FLUSH_TIMEOUT_MS);
    if (s != NATS_OK) {
        fprintf(stderr, "stale_demo: warm-up publish/flush: %s\n", natsStatus_GetText(s));
        goto out;
    }
    say("published %d warm-up messages to server 1 and flushed (server 1 answered the PING); "
        "the servers are not clustered, so the subscriber on server 2 does not see them",
        WARMUP_MSGS);

    /* ---- the freeze ------------------------------------------------------- */
    if (freeze_server(&g_srv[0]) != 0) {
        fprintf(stderr, "stale_demo: cannot SIGSTOP server 1 (pid %d)\n", (int) g_srv[0].pid);
        goto out;
    }
    {
        int64_t t0 = now_ns();
        atomic_store(&g_freeze_ns, t0);
    }
    rc = 0; /* from here on the demo "ran" */
    say("server 1 frozen (SIGSTOP): its socket stays open and swallows bytes, nothing is answered");
    /* Server 2 is slow to take over: it is paused too, and resumed 500 ms
     * after the stale connection is detected. Meanwhile the client is
     * reconnecting and publishes go to its reconnect buffer. */
    if (freeze_server(&g_srv[1]) != 0) {
        fprintf(stderr, "stale_demo: cannot SIGSTOP server 2 (pid %d)\n", (int) g_srv[1].pid);
        goto out;
    }
    say("server 2 paused as well (it will be resumed %d ms after the detection)", SLOW_TAKEOVER_MS);
    if (pthread_create(&thawer, NULL, thaw_later, NULL) != 0) {
        thaw_server(&g_srv[1]);
        fprintf(stderr, "stale_demo: cannot start the thaw thread\n");
        goto out;
    }
    thawerStarted = true;
    say("publishing seq=1, 2, ... every %d ms", PUBLISH_EVERY_MS);

    {
        int64_t t0             = atomic_load(&g_freeze_ns);
        int64_t deadline       = t0 + (int64_t) FAILOVER_LIMIT_MS * 1000000LL;
        int     afterReconnect = 0;
        int     lastPhase      = PH_BEFORE_DETECTION;
#ifdef NATS_EXT_CONN_HEALTH
        int64_t nextHealth     = t0 + 250LL * 1000000LL;
#endif

        for (int seq = 1; seq < MAX_SEQ; seq++) {
            char    payload[64];
            int     phase;
            int64_t now = now_ns();

            if (atomic_load(&g_reconn_ns) != 0)
                phase = PH_AFTER_RECONNECT;
            else if (atomic_load(&g_disc_ns) != 0
                     || natsConnection_Status(nc) != NATS_CONN_STATUS_CONNECTED)
                phase = PH_RECONNECTING;
            else
                phase = PH_BEFORE_DETECTION;
            if (phase == PH_AFTER_RECONNECT && afterReconnect >= AFTER_RECONNECT)
                break;
            if (now > deadline) {
                say("no reconnection within %d ms of the freeze; giving up", FAILOVER_LIMIT_MS);
                break;
            }
            if (phase != lastPhase) {
                say("publishing seq=%d onwards %s (status %s)", seq, phase_name[phase],
                    conn_status_name(natsConnection_Status(nc)));
                lastPhase = phase;
            }


            snprintf(payload, sizeof(payload), "seq=%d", seq);
            s = natsConnection_PublishString(nc, SUBJECT, payload);
            g_pub[seq].st    = s;
            g_pub[seq].phase = phase;
            g_pub[seq].at_ns = now;
            lastSeq          = seq;
            if (phase == PH_AFTER_RECONNECT)
                afterReconnect++;
            if (s != NATS_OK) {
                int k = ((int) s >= 0 && (int) s < 64) ? (int) s : 63;
                if (failByStatus[k]++ == 0)
                    say("publish seq=%d failed: %s (further failures with this status are counted)",
                        seq, natsStatus_GetText(s));
            }
#ifdef NATS_EXT_CONN_HEALTH
            if (phase == PH_BEFORE_DETECTION && now >= nextHealth) {
                char when[48];
                snprintf(when, sizeof(when), "%lld ms into the freeze", ms_between(t0, now));
                print_health(nc, when);
                nextHealth += 250LL * 1000000LL;
            }
#endif
            sleep_ms(PUBLISH_EVERY_MS);
        }
    }

    if (atomic_load(&g_reconn_ns) != 0) {
        if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) != NATS_OK)
            snprintf(url, sizeof(url), "?");
#ifdef NATS_EXT_CONN_HEALTH
        {
            natsConnHealth h;
            if (natsConnection_GetHealth(nc, &h) == NATS_OK)
                say("publishes written to the dead socket and never confirmed by server 1: %" PRIu64
                    " (the next flush reports them)", h.unconfirmedLost);
        }
#endif
        s = natsConnection_FlushTimeout(nc, FLUSH_TIMEOUT_MS);
        firstFlush = s;
        if (s == NATS_OK) {
            say("published up to seq=%d; flush on %s: OK", lastSeq, url);
        } else {
            say("published up to seq=%d; flush on %s: %s: %s", lastSeq, url, natsStatus_GetText(s),
                nats_GetLastError(NULL) ? nats_GetLastError(NULL) : "");
            s = natsConnection_FlushTimeout(nc, FLUSH_TIMEOUT_MS);
            say("flush again: %s", natsStatus_GetText(s));
        }
    } else {
        say("published up to seq=%d; never reconnected (status %s)", lastSeq,
            conn_status_name(natsConnection_Status(nc)));
    }
#ifdef NATS_EXT_CONN_HEALTH
    print_health(nc, "after reconnect");
#endif

    /* ---- wait for the subscriber ----------------------------------------- */
    /* Everything published OK once the stale connection was detected must
     * reach server 2 (replayed from the reconnect buffer, or sent after the
     * reconnect). Bounded wait. */
    {
        int64_t         deadline = now_ns() + (int64_t) DELIVERY_WAIT_MS * 1000000LL;
        int             missing  = 0;
        struct timespec ts;

        pthread_mutex_lock(&g_mu);
        for (;;) {
            missing = 0;
            for (int i = 1; i <= lastSeq; i++)
                if (g_pub[i].st == NATS_OK && g_pub[i].phase != PH_BEFORE_DETECTION
                    && g_recv[i] == 0)
                    missing++;
            if (missing == 0 || now_ns() >= deadline)
                break;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 50 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&g_cond, &g_mu, &ts);
        }
        pthread_mutex_unlock(&g_mu);
        if (missing == 0)
            say("the subscriber has every message published after detection");
        else
            say("after waiting %d ms, %d messages published after detection are still missing",
                DELIVERY_WAIT_MS, missing);
        /* A little more time for stragglers (and duplicates) to show up. */
        sleep_ms(100);
    }

    /* ---- statistics ------------------------------------------------------- */
    s = natsStatistics_Create(&stats);
    if (s == NATS_OK)
        s = natsConnection_GetStats(nc, stats);
    if (s == NATS_OK)
        s = natsStatistics_GetCounts(stats, &inMsgs, &inBytes, &outMsgs, &outBytes,
                                     &reconnects);
    if (s == NATS_OK)
        say("connection statistics: reconnects=%" PRIu64 ", outMsgs=%" PRIu64
            " (includes the warm-up), outBytes=%" PRIu64, reconnects, outMsgs, outBytes);
    else
        say("connection statistics unavailable: %s", natsStatus_GetText(s));

    /* ---- summary ---------------------------------------------------------- */
    {
        static bool lostBefore[MAX_SEQ];
        static bool lostAfter[MAX_SEQ];
        char        ranges[512];
        char        errTok[64];
        int64_t     t0 = atomic_load(&g_freeze_ns);
        int64_t     td = atomic_load(&g_disc_ns);
        int64_t     tr = atomic_load(&g_reconn_ns);
        long long   detectionMs = td ? ms_between(t0, td) : -1;
        long long   reconnectMs = tr ? ms_between(t0, tr) : -1;
        int pubOk = 0, pubFailed = 0, delivered = 0, dups = 0, lost = 0;
        int nLostBefore = 0, nLostAfter = 0, deliveredFailed = 0, other;
        int perPhase[3] = {0, 0, 0}, perPhaseOk[3] = {0, 0, 0}, perPhaseDelivered[3] = {0, 0, 0};
        natsStatus cbErr;

        pthread_mutex_lock(&g_mu);
        for (int i = 1; i <= lastSeq; i++) {
            int ph = g_pub[i].phase;
            perPhase[ph]++;
            if (g_recv[i] > 0) {
                delivered++;
                perPhaseDelivered[ph]++;
                dups += g_recv[i] - 1;
            }
            if (g_pub[i].st == NATS_OK) {
                pubOk++;
                perPhaseOk[ph]++;
                if (g_recv[i] == 0) {
                    lost++;
                    if (ph == PH_BEFORE_DETECTION) {
                        lostBefore[i] = true;
                        nLostBefore++;
                    } else {
                        lostAfter[i] = true;
                        nLostAfter++;
                    }
                }
            } else {
                pubFailed++;
                if (g_recv[i] > 0)
                    deliveredFailed++;
            }
        }
        other = g_recv_other;
        cbErr = g_cb_err;
        token(natsStatus_GetText(cbErr), errTok, sizeof(errTok));
        pthread_mutex_unlock(&g_mu);

        say("---- summary ----");
        say("detection (freeze -> disconnected callback): %lld ms", detectionMs);
        say("failover  (freeze -> reconnected callback):  %lld ms", reconnectMs);
        say("last error seen in the disconnected callback: %s%s", natsStatus_GetText(cbErr),
            cbErr == NATS_OK ? " (the cause was not kept)" : "");
        for (int ph = 0; ph < 3; ph++)
            say("  %-18s published %4d, OK %4d, delivered %4d", phase_name[ph], perPhase[ph],
                perPhaseOk[ph], perPhaseDelivered[ph]);
        say("published %d numbered messages: %d returned NATS_OK, %d failed", lastSeq, pubOk,
            pubFailed);
        for (int k = 0; k < 64; k++)
            if (failByStatus[k] > 0)
                say("  failed with %s: %d", natsStatus_GetText((natsStatus) k), failByStatus[k]);
        say("delivered to the independent subscriber: %d distinct, %d duplicates%s", delivered,
            dups, other ? " (plus unnumbered messages)" : "");
        if (deliveredFailed)
            say("  %d of them had failed to publish (the library reported an error, yet sent it)",
                deliveredFailed);
        say("lost (published OK, never delivered): %d", lost);
        say("first flush after the reconnect: %s%s", natsStatus_GetText(firstFlush),
            firstFlush == NATS_OK && lost > 0 ? " <- the application was not told about the loss"
                                              : (firstFlush != NATS_OK ? " <- the loss was reported"
                                                                       : ""));
        format_ranges(lostBefore, lastSeq + 1, ranges, sizeof(ranges));
        say("  before detection: %d (%s) - written into the frozen server's socket; "
            "publish returned NATS_OK, no client can deliver these", nLostBefore, ranges);
        format_ranges(lostAfter, lastSeq + 1, ranges, sizeof(ranges));
        say("  after detection:  %d (%s)%s", nLostAfter, ranges,
            nLostAfter ? " - these should have been replayed" : "");

        printf("RESULT version=%s detection_ms=%lld reconnect_ms=%lld published=%d "
               "published_ok=%d failed=%d delivered=%d duplicates=%d lost=%d "
               "lost_before_detection=%d lost_after_detection=%d reconnects=%" PRIu64
               " disconnected_cbs=%d cb_last_error=%s first_flush=%d health_ext=%d\n",
               nats_GetVersion(), detectionMs, reconnectMs, lastSeq, pubOk, pubFailed,
               delivered, dups, lost, nLostBefore, nLostAfter, reconnects,
               atomic_load(&g_disc_count), errTok, (int) firstFlush,
#ifdef NATS_EXT_CONN_HEALTH
               1
#else
               0
#endif
        );
        fflush(stdout);
    }

out:
    if (thawerStarted)
        pthread_join(thawer, NULL);
    /* Server 1 first: it is frozen, and a connection still trying it then
     * fails at once instead of waiting for a timeout. */
    stop_server(&g_srv[0]);
    natsStatistics_Destroy(stats);
    if (nc != NULL) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(subNc);
    natsOptions_Destroy(opts);
    stop_server(&g_srv[1]);
    nats_CloseAndWait(2000);
    if (rc != 0)
        fprintf(stderr, "stale_demo: setup failed\n");
    return rc;
}
