/*
 * evloop_common.h - what evloop_libuv.c and evloop_libevent.c share: their
 * own nats-server processes, counting wrappers around an adapter's
 * callbacks, connection callbacks, helper threads for blocking calls, and
 * the step machine that the loop's timer drives.
 *
 * Include it after "harness.h" and after the adapter's header.
 *
 * Nothing here blocks the loop thread for long: the loop thread must keep
 * running for the looped connection to read, write and flush, so blocking
 * calls on it (natsConnection_Flush, ...) go to helper threads, and the step
 * function polls their completion from a loop timer.
 */
#ifndef NATS_FFI_TESTS_EVLOOP_COMMON_H
#define NATS_FFI_TESTS_EVLOOP_COMMON_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* Bounds (ms). */
#define EVT_DEADLINE_MS   20000   /* a whole scenario, loop drain included */
#define EVT_STEP_MS       5       /* period of the step timer */
#define EVT_WAIT_MS       10000   /* one awaited condition */

/* ------------------------------------------------------------------------ */
/* nats-server processes                                                    */

typedef struct {
    pid_t   pid;    /* 0 when not running */
    int     port;
} evt_server;

static int
evt_free_port(void)
{
    struct sockaddr_in  addr;
    socklen_t           alen = sizeof(addr);
    int                 fd   = socket(AF_INET, SOCK_STREAM, 0);
    int                 port = 0;

    if (fd < 0)
        return 0;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0
        && getsockname(fd, (struct sockaddr *) &addr, &alen) == 0)
        port = (int) ntohs(addr.sin_port);
    close(fd);
    return port;
}

/* One connection attempt to 127.0.0.1:port. */
static bool
evt_port_accepts(int port)
{
    struct sockaddr_in  addr;
    int                 fd = socket(AF_INET, SOCK_STREAM, 0);
    bool                ok;

    if (fd < 0)
        return false;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t) port);
    ok = (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) == 0);
    close(fd);
    return ok;
}

static void
evt_nap_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* Starts `nats-server -a 127.0.0.1 -p <sv->port>` ($NATS_SERVER_BIN, else
 * nats-server from PATH), with its output to /dev/null, and waits (bounded)
 * until the port accepts connections. Call it from the main thread only: the
 * server dies with the thread that forked it (PR_SET_PDEATHSIG), so that a
 * crashed test leaves no server behind. */
static bool
evt_server_start(evt_server *sv)
{
    const char  *bin = getenv("NATS_SERVER_BIN");
    char        portArg[16];
    char        *argv[6];
    pid_t       parent = getpid();
    pid_t       pid;
    int         devnull, i, status;

    if (bin == NULL || bin[0] == '\0')
        bin = "nats-server";
    if (sv->port == 0)
        sv->port = evt_free_port();
    if (sv->port == 0)
        return false;
    snprintf(portArg, sizeof(portArg), "%d", sv->port);
    argv[0] = (char *) bin;
    argv[1] = (char *) "-a";
    argv[2] = (char *) "127.0.0.1";
    argv[3] = (char *) "-p";
    argv[4] = portArg;
    argv[5] = NULL;

    devnull = open("/dev/null", O_RDWR);
    if (devnull < 0)
        return false;
    pid = fork();
    if (pid < 0) {
        close(devnull);
        return false;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls until exec. */
        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        (void) dup2(devnull, 0);
        (void) dup2(devnull, 1);
        (void) dup2(devnull, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(devnull);
    sv->pid = pid;
    fprintf(stderr, "# nats-server pid %d on port %d\n", (int) pid, sv->port);

    for (i = 0; i < 1000; i++) { /* 10 s */
        if (waitpid(pid, &status, WNOHANG) == pid) {
            fprintf(stderr, "# nats-server on port %d exited at start\n", sv->port);
            sv->pid = 0;
            return false;
        }
        if (evt_port_accepts(sv->port))
            return true;
        evt_nap_ms(10);
    }
    return false;
}

static void
evt_server_signal(evt_server *sv, int sig)
{
    if (sv->pid > 0)
        (void) kill(sv->pid, sig);
}

/* Stops the server for good (SIGCONT first, in case it is frozen). */
static void
evt_server_kill(evt_server *sv)
{
    if (sv->pid > 0) {
        (void) kill(sv->pid, SIGCONT);
        (void) kill(sv->pid, SIGKILL);
        (void) waitpid(sv->pid, NULL, 0);
        sv->pid = 0;
    }
}

static void
evt_url(const evt_server *sv, char *buf, size_t len)
{
    snprintf(buf, len, "nats://127.0.0.1:%d", sv->port);
}

/* ------------------------------------------------------------------------ */
/* Counting wrappers around the adapter's callbacks                         */

/* The adapter's callbacks; set by the program before any scenario. */
static natsEvLoop_Attach            evt_realAttach;
static natsEvLoop_ReadAddRemove     evt_realRead;
static natsEvLoop_WriteAddRemove    evt_realWrite;
static natsEvLoop_Detach            evt_realDetach;

/* What the wrappers saw; guarded by evt_mu. The counters wake waiters. */
static pthread_mutex_t  evt_mu = PTHREAD_MUTEX_INITIALIZER;
static harness_counter  evt_attaches;       /* attach calls that succeeded */
static harness_counter  evt_detaches;
static harness_counter  evt_msgs;
static harness_counter  evt_disconnected;
static harness_counter  evt_reconnected;
static harness_counter  evt_closed;
static pthread_t        evt_connectThread;  /* the thread calling Connect */
static int              evt_attachCalls;
static natsStatus       evt_lastAttachStatus;
static bool             evt_firstAttachOnConnectThread;
static bool             evt_firstAttachUserDataNull;
static void             *evt_userData;      /* *userData after the first attach */
static bool             evt_reattachUserDataSame;
static bool             evt_socketsNonBlocking;
static void             *evt_detachedUD[8]; /* userData of the detaches seen */
static int              evt_detachedN;
static int              evt_readAdds;
static int              evt_readRemoves;
static int              evt_writeAdds;
static int              evt_writeRemoves;
static int              evt_removesAtDetach;
static int              evt_attachesAtDetach;
static int              evt_callsAfterDetach;
static bool             evt_writeRemovedBeforeRead; /* write(false) just before each read(false) */
static bool             evt_lastWasWriteRemove;
static natsStatus       evt_disconnectCause;
static natsSock         evt_firstSock;      /* socket of the first attach */
static int              evt_conns;          /* looped connections in the scenario */
#define EVT_LOG_MAX 16
static struct {
    natsConnection  *nc;
    natsSock        fd;
}                       evt_log[EVT_LOG_MAX]; /* successful attaches, in order */
static int              evt_logN;
static int              evt_firstSockPort;  /* its local port */

static void
evt_counter_reset(harness_counter *c)
{
    pthread_mutex_lock(&c->mu);
    c->count = 0;
    pthread_mutex_unlock(&c->mu);
}

static void
evt_init_once(void)
{
    counter_init(&evt_attaches);
    counter_init(&evt_detaches);
    counter_init(&evt_msgs);
    counter_init(&evt_disconnected);
    counter_init(&evt_reconnected);
    counter_init(&evt_closed);
}

/* Clears everything before a scenario; the calling thread is the one that
 * will call natsConnection_Connect. */
static void
evt_reset(void)
{
    evt_counter_reset(&evt_attaches);
    evt_counter_reset(&evt_detaches);
    evt_counter_reset(&evt_msgs);
    evt_counter_reset(&evt_disconnected);
    evt_counter_reset(&evt_reconnected);
    evt_counter_reset(&evt_closed);
    pthread_mutex_lock(&evt_mu);
    evt_connectThread = pthread_self();
    evt_attachCalls = 0;
    evt_lastAttachStatus = NATS_OK;
    evt_firstAttachOnConnectThread = false;
    evt_firstAttachUserDataNull = false;
    evt_userData = NULL;
    evt_reattachUserDataSame = true;
    evt_socketsNonBlocking = true;
    evt_detachedN = 0;
    evt_readAdds = evt_readRemoves = evt_writeAdds = evt_writeRemoves = 0;
    evt_removesAtDetach = evt_attachesAtDetach = -1;
    evt_callsAfterDetach = 0;
    evt_writeRemovedBeforeRead = true;
    evt_lastWasWriteRemove = false;
    evt_disconnectCause = NATS_OK;
    evt_firstSock = -1;
    evt_firstSockPort = 0;
    evt_conns = 1;
    evt_logN = 0;
    pthread_mutex_unlock(&evt_mu);
}

/* Local port of socket `fd`, 0 if it is not an open IPv4 socket. */
static int
evt_local_port(natsSock fd)
{
    struct sockaddr_in  addr;
    socklen_t           alen = sizeof(addr);

    memset(&addr, 0, sizeof(addr));
    if (getsockname(fd, (struct sockaddr *) &addr, &alen) != 0 || addr.sin_family != AF_INET)
        return 0;
    return (int) ntohs(addr.sin_port);
}

/* True while the first attached socket is still open (same descriptor, same
 * local port: a reused descriptor number does not count). */
static inline bool
evt_first_sock_open(void)
{
    natsSock    fd;
    int         port;

    pthread_mutex_lock(&evt_mu);
    fd = evt_firstSock;
    port = evt_firstSockPort;
    pthread_mutex_unlock(&evt_mu);
    return fd >= 0 && port != 0 && fcntl(fd, F_GETFD) != -1 && evt_local_port(fd) == port;
}

/* True if `ud` was detached already (evt_mu held). */
static bool
evt_was_detached(void *ud)
{
    int i;
    for (i = 0; i < evt_detachedN; i++)
        if (evt_detachedUD[i] == ud)
            return true;
    return false;
}

static natsStatus
evt_attach(void **userData, void *loop, natsConnection *nc, natsSock socket)
{
    natsStatus  s;
    int         fl = fcntl(socket, F_GETFL);
    bool        first;

    pthread_mutex_lock(&evt_mu);
    first = (evt_attachCalls == 0);
    evt_attachCalls++;
    if (first) {
        evt_firstAttachOnConnectThread = pthread_equal(pthread_self(), evt_connectThread) != 0;
        evt_firstAttachUserDataNull = (userData != NULL && *userData == NULL);
        evt_firstSock = socket;
        evt_firstSockPort = evt_local_port(socket);
    } else if (userData == NULL || *userData != evt_userData) {
        evt_reattachUserDataSame = false;
    }
    if (fl < 0 || (fl & O_NONBLOCK) == 0)
        evt_socketsNonBlocking = false;
    if (userData != NULL && evt_was_detached(*userData))
        evt_callsAfterDetach++;
    evt_lastWasWriteRemove = false;
    pthread_mutex_unlock(&evt_mu);

    s = evt_realAttach(userData, loop, nc, socket);

    pthread_mutex_lock(&evt_mu);
    evt_lastAttachStatus = s;
    if (s == NATS_OK && evt_logN < EVT_LOG_MAX) {
        evt_log[evt_logN].nc = nc;
        evt_log[evt_logN].fd = socket;
        evt_logN++;
    }
    if (first && s == NATS_OK && userData != NULL)
        evt_userData = *userData;
    pthread_mutex_unlock(&evt_mu);
    if (s == NATS_OK)
        counter_add(&evt_attaches, 1);
    return s;
}

static natsStatus
evt_read(void *userData, bool add)
{
    pthread_mutex_lock(&evt_mu);
    if (add) {
        evt_readAdds++;
    } else {
        evt_readRemoves++;
        if (!evt_lastWasWriteRemove)
            evt_writeRemovedBeforeRead = false;
    }
    evt_lastWasWriteRemove = false;
    if (evt_was_detached(userData))
        evt_callsAfterDetach++;
    pthread_mutex_unlock(&evt_mu);
    return evt_realRead(userData, add);
}

static natsStatus
evt_write(void *userData, bool add)
{
    pthread_mutex_lock(&evt_mu);
    if (add)
        evt_writeAdds++;
    else
        evt_writeRemoves++;
    evt_lastWasWriteRemove = !add;
    if (evt_was_detached(userData))
        evt_callsAfterDetach++;
    pthread_mutex_unlock(&evt_mu);
    return evt_realWrite(userData, add);
}

static natsStatus
evt_detach(void *userData)
{
    pthread_mutex_lock(&evt_mu);
    if (evt_was_detached(userData))
        evt_callsAfterDetach++;
    else if (evt_detachedN < 8)
        evt_detachedUD[evt_detachedN++] = userData;
    evt_removesAtDetach = evt_readRemoves;
    evt_attachesAtDetach = counter_get(&evt_attaches);
    pthread_mutex_unlock(&evt_mu);
    counter_add(&evt_detaches, 1);
    return evt_realDetach(userData);
}

static int
evt_writeAddsNow(void)
{
    int v;
    pthread_mutex_lock(&evt_mu);
    v = evt_writeAdds;
    pthread_mutex_unlock(&evt_mu);
    return v;
}

/* ------------------------------------------------------------------------ */
/* Connection callbacks                                                     */

static void
evt_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    (void) closure;
    natsMsg_Destroy(msg);
    counter_add(&evt_msgs, 1);
}

static void
evt_on_disconnected(natsConnection *nc, void *closure)
{
    const char  *text = NULL;
    natsStatus  cause = natsConnection_GetLastError(nc, &text);

    (void) closure;
    pthread_mutex_lock(&evt_mu);
    if (evt_disconnectCause == NATS_OK)
        evt_disconnectCause = cause;
    pthread_mutex_unlock(&evt_mu);
    fprintf(stderr, "# disconnected: %d (%s) at %" PRId64 "\n", (int) cause,
            text != NULL ? text : "", nats_Now() % 100000);
    counter_add(&evt_disconnected, 1);
}

static void
evt_on_reconnected(natsConnection *nc, void *closure)
{
    (void) nc;
    (void) closure;
    fprintf(stderr, "# reconnected at %" PRId64 "\n", nats_Now() % 100000);
    counter_add(&evt_reconnected, 1);
}

static void
evt_on_closed(natsConnection *nc, void *closure)
{
    (void) nc;
    (void) closure;
    counter_add(&evt_closed, 1);
}

/* Options for a looped connection to `sv`. NULL on failure (reported). */
static natsOptions *
evt_options(const evt_server *sv, void *loop, const char *name)
{
    natsOptions *o = NULL;
    char        url[64];
    natsStatus  s;

    evt_url(sv, url, sizeof(url));
    s = natsOptions_Create(&o);
    if (s == NATS_OK) s = natsOptions_SetURL(o, url);
    if (s == NATS_OK) s = natsOptions_SetName(o, name);
    if (s == NATS_OK)
        s = natsOptions_SetEventLoop(o, loop, evt_attach, evt_read, evt_write, evt_detach);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, evt_on_disconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetReconnectedCB(o, evt_on_reconnected, NULL);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(o, evt_on_closed, NULL);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(o, 50);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(o, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectJitter(o, 0, 0);
    if (s == NATS_OK) s = natsOptions_SetTimeout(o, 1000);
    if (!CHECK_STATUSF(s, NATS_OK, "%s: options with the event loop", name)) {
        natsOptions_Destroy(o);
        return NULL;
    }
    return o;
}

/* Connects on the calling thread (the loop thread) and checks what the
 * contract says about the first attach. */
static natsConnection *
evt_connect(natsOptions *o, const char *name)
{
    natsConnection  *nc = NULL;
    natsStatus      s;

    s = natsConnection_Connect(&nc, o);
    natsOptions_Destroy(o);
    if (!CHECK_STATUSF(s, NATS_OK, "%s: connect from the loop thread", name))
        return NULL;
    CHECKF(counter_get(&evt_attaches) == 1, "%s: attached once before Connect returned", name);
    pthread_mutex_lock(&evt_mu);
    CHECKF(evt_firstAttachOnConnectThread, "%s: first attach on the thread calling Connect", name);
    CHECKF(evt_firstAttachUserDataNull, "%s: first attach gets *userData == NULL", name);
    CHECKF(evt_socketsNonBlocking, "%s: the attached socket is non-blocking", name);
    pthread_mutex_unlock(&evt_mu);
    return nc;
}

/* ------------------------------------------------------------------------ */
/* Helper threads for blocking calls                                        */

typedef enum {
    EVT_JOB_PUBLISH_FLUSH,  /* n messages on `nc`, then FlushTimeout */
    EVT_JOB_FLUSH_FLOOD     /* FlushTimeout on `nc`, then n messages from a
                               plain connection to `url`, then its flush */
} evt_job_kind;

typedef struct {
    evt_job_kind    kind;
    natsConnection  *nc;
    const char      *subj;
    int             n;
    char            url[64];
    pthread_t       thread;
    bool            running;
    harness_counter done;
    natsStatus      status;
} evt_job;

static void *
evt_job_main(void *arg)
{
    evt_job     *j = (evt_job *) arg;
    natsStatus  s  = NATS_OK;
    static const char payload[] =
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789";

    if (j->kind == EVT_JOB_PUBLISH_FLUSH) {
        s = publish_many(j->nc, j->subj, j->n, "hello");
        if (s == NATS_OK)
            s = natsConnection_FlushTimeout(j->nc, 5000);
    } else {
        natsConnection *pub = NULL;
        s = natsConnection_FlushTimeout(j->nc, 5000);
        if (s == NATS_OK)
            s = natsConnection_ConnectTo(&pub, j->url);
        if (s == NATS_OK)
            s = publish_many(pub, j->subj, j->n, payload);
        if (s == NATS_OK)
            s = natsConnection_FlushTimeout(pub, 10000);
        natsConnection_Destroy(pub);
    }
    j->status = s;
    counter_add(&j->done, 1);
    return NULL;
}

static bool
evt_job_start(evt_job *j, evt_job_kind kind, natsConnection *nc, const char *subj, int n,
              const evt_server *sv)
{
    j->kind = kind;
    j->nc = nc;
    j->subj = subj;
    j->n = n;
    j->status = NATS_ERR;
    if (sv != NULL)
        evt_url(sv, j->url, sizeof(j->url));
    else
        j->url[0] = '\0';
    counter_init(&j->done);
    j->running = (pthread_create(&j->thread, NULL, evt_job_main, j) == 0);
    return j->running;
}

static bool
evt_job_done(evt_job *j)
{
    return !j->running || counter_get(&j->done) >= 1;
}

/* Joins a job that said it is done (so the join is immediate). */
static void
evt_job_join(evt_job *j)
{
    if (j->running) {
        pthread_join(j->thread, NULL);
        j->running = false;
        counter_destroy(&j->done);
    }
}

/* Last resort (failure paths): waits a bounded time, joins if done. */
static void
evt_job_abandon(evt_job *j)
{
    if (j->running && counter_wait(&j->done, 1, 15000))
        evt_job_join(j);
}

/* ------------------------------------------------------------------------ */
/* The step machine                                                         */

static int      evt_phase;
static int64_t  evt_phaseStart;

static void
evt_phase_reset(void)
{
    evt_phase = 0;
    evt_phaseStart = nats_Now();
}

static void
evt_next(void)
{
    evt_phase++;
    evt_phaseStart = nats_Now();
}

/* Waits for `cond` (polled at each step): 1 = it holds (ok reported, next
 * phase), -1 = `bound_ms` passed (not ok reported), 0 = keep waiting. */
static int
evt_await(bool cond, int64_t bound_ms, const char *name)
{
    if (cond) {
        CHECK(true, name);
        evt_next();
        return 1;
    }
    if (nats_Now() - evt_phaseStart > bound_ms) {
        CHECK(false, name);
        return -1;
    }
    return 0;
}

/* After the loop returned: what the contract says about the end of a
 * connection. `attaches` is the number of attaches expected. */
static void
evt_check_end(const char *name, int attaches)
{
    CHECKF(counter_wait(&evt_closed, evt_conns, 5000), "%s: closed callback called", name);
    CHECKF(counter_get(&evt_detaches) == evt_conns, "%s: detach called exactly once%s", name,
           evt_conns > 1 ? " per connection" : "");
    CHECKF(counter_get(&evt_attaches) == attaches, "%s: attach called %d time(s)", name,
           attaches);
    pthread_mutex_lock(&evt_mu);
    CHECKF(evt_removesAtDetach == evt_attachesAtDetach && evt_removesAtDetach == attaches,
           "%s: read removed once per attached socket, before detach", name);
    if (evt_removesAtDetach != evt_attachesAtDetach || evt_removesAtDetach != attaches)
        fprintf(stderr, "# %s: read removals %d, attaches %d at detach\n", name,
                evt_removesAtDetach, evt_attachesAtDetach);
    CHECKF(evt_writeRemovedBeforeRead, "%s: write removed just before each read removal",
           name);
    CHECKF(evt_callsAfterDetach == 0, "%s: no adapter call after detach", name);
    CHECKF(evt_readAdds == 0, "%s: read(true) never called (attach starts reading)", name);
    fprintf(stderr, "# %s: write adds %d, write removes %d, disconnected %d, reconnected %d\n",
            name, evt_writeAdds, evt_writeRemoves, counter_get(&evt_disconnected),
            counter_get(&evt_reconnected));
    pthread_mutex_unlock(&evt_mu);
}


/* ------------------------------------------------------------------------ */
/* The scenarios                                                            */

/* Provided by the program, for the loop library it tests. */

/* Makes this scenario's loop; the calling (main) thread will run it. */
static void *evt_loop_new(const char *name);
/* Runs the loop: `step` is called every EVT_STEP_MS from a loop timer until
 * it returns 1; then the loop must end by itself once the adapter has
 * released everything. Checks that, then evt_check_end(name, attaches). */
static void evt_loop_run(const char *name, int (*step)(void), int attaches);
/* Releases a loop that was not run (the scenario failed before). */
static void evt_loop_discard(const char *name);

/* The current scenario's loop (as given to natsOptions_SetEventLoop). */
static void *evt_loopOf;

/* What a scenario works on. `nc` is guarded by evt_ctxMu (a message callback
 * may destroy it). */
static pthread_mutex_t  evt_ctxMu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    natsConnection      *nc;
    natsSubscription    *sub;
    natsConnection      *nc2;   /* h: a second looped connection */
    natsSubscription    *sub2;
    evt_job             job;
    evt_server          *server;
    const char          *name;
    int                 destroyAt;      /* d2: message count that destroys */
    bool                destroyedInCb;  /* d2: done (guarded by evt_ctxMu) */
} evt_ctx;

static void
evt_ctx_reset(const char *name, evt_server *sv)
{
    memset(&evt_ctx.job, 0, sizeof(evt_ctx.job));
    pthread_mutex_lock(&evt_ctxMu);
    evt_ctx.nc = NULL;
    evt_ctx.destroyedInCb = false;
    pthread_mutex_unlock(&evt_ctxMu);
    evt_ctx.sub = NULL;
    evt_ctx.nc2 = NULL;
    evt_ctx.sub2 = NULL;
    evt_ctx.server = sv;
    evt_ctx.name = name;
    evt_ctx.destroyAt = 0;
}

/* Ends a scenario's work (on the loop thread): unsubscribes, destroys the
 * connection (if still there), waits for the helper thread. Returns 1, the
 * step function's "done". */
static int
evt_finish(void)
{
    natsConnection *nc;

    natsSubscription_Destroy(evt_ctx.sub);
    evt_ctx.sub = NULL;
    natsSubscription_Destroy(evt_ctx.sub2);
    evt_ctx.sub2 = NULL;
    pthread_mutex_lock(&evt_ctxMu);
    nc = evt_ctx.nc;
    evt_ctx.nc = NULL;
    pthread_mutex_unlock(&evt_ctxMu);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(evt_ctx.nc2);
    evt_ctx.nc2 = NULL;
    evt_job_abandon(&evt_ctx.job);
    return 1;
}

static natsConnection *
evt_nc(void)
{
    natsConnection *nc;
    pthread_mutex_lock(&evt_ctxMu);
    nc = evt_ctx.nc;
    pthread_mutex_unlock(&evt_ctxMu);
    return nc;
}

/* Sets up a scenario: loop, options (with `tune` applied), connection from
 * this thread, async subscription on `subj` with `cb`. False if it failed
 * (reported, loop discarded). */
static bool
evt_setup(const char *name, evt_server *sv, const char *subj, natsMsgHandler cb,
          natsStatus (*tune)(natsOptions *))
{
    void            *loop;
    natsOptions     *o;
    natsConnection  *nc;

    evt_reset();
    evt_ctx_reset(name, sv);
    if (!CHECKF(sv->pid > 0, "%s: its server is running", name))
        return false;
    loop = evt_loop_new(name);
    if (loop == NULL)
        return false;
    evt_loopOf = loop;
    o = evt_options(sv, loop, name);
    if (o != NULL && tune != NULL
        && !CHECK_STATUSF(tune(o), NATS_OK, "%s: scenario options", name)) {
        natsOptions_Destroy(o);
        o = NULL;
    }
    nc = (o != NULL) ? evt_connect(o, name) : NULL;
    if (nc == NULL) {
        evt_loop_discard(name);
        return false;
    }
    pthread_mutex_lock(&evt_ctxMu);
    evt_ctx.nc = nc;
    pthread_mutex_unlock(&evt_ctxMu);
    if (subj != NULL)
        CHECK_STATUSF(natsConnection_Subscribe(&evt_ctx.sub, nc, subj, cb, NULL), NATS_OK,
                      "%s: async subscribe (from the loop thread)", name);
    return true;
}

/* Phases shared by several steps: publish `n` on the looped connection from
 * a helper thread and flush, then wait until `total` messages arrived.
 * Occupies phases p, p+1, p+2. Returns 0 while busy, 1 when done (phase is
 * then p+3), -1 on failure. */
static int
evt_pubsub_phases(int p, const char *subj, int n, int total, const char *what)
{
    char    name[160];
    int     r;

    if (evt_phase == p) {
        snprintf(name, sizeof(name), "%s: start a publisher thread", evt_ctx.name);
        if (!CHECK(evt_job_start(&evt_ctx.job, EVT_JOB_PUBLISH_FLUSH, evt_nc(), subj, n, NULL),
                   name))
            return -1;
        evt_next();
        return 0;
    }
    if (evt_phase == p + 1) {
        snprintf(name, sizeof(name), "%s: %s: publish %d + flush from another thread returns",
                 evt_ctx.name, what, n);
        r = evt_await(evt_job_done(&evt_ctx.job), EVT_WAIT_MS, name);
        if (r > 0) {
            evt_job_join(&evt_ctx.job);
            snprintf(name, sizeof(name), "%s: %s: publish + flush status", evt_ctx.name, what);
            if (!CHECK_STATUS(evt_ctx.job.status, NATS_OK, name))
                return -1;
        }
        return (r < 0) ? -1 : 0;
    }
    snprintf(name, sizeof(name), "%s: %s: %d messages received through the loop", evt_ctx.name,
             what, total);
    r = evt_await(counter_get(&evt_msgs) >= total, EVT_WAIT_MS, name);
    if (r < 0)
        fprintf(stderr, "# %s: %d messages\n", evt_ctx.name, counter_get(&evt_msgs));
    return r;
}

/* a. Connect from the loop thread, subscribe, publish from the loop thread
 *    and from another thread (+ flush), receive 100 messages. */
static int
evt_step_pubsub(void)
{
    int r;

    if (evt_phase == 0) {
        CHECK_STATUS(publish_many(evt_nc(), "evloop.a", 50, "hello"), NATS_OK,
                     "a: publish 50 from the loop thread");
        evt_next();
        return 0;
    }
    r = evt_pubsub_phases(1, "evloop.a", 50, 100, "pub/sub");
    if (r == 0)
        return 0;
    if (r > 0) {
        CHECK(evt_writeAddsNow() > 0, "a: write(true) was called to send");
        CHECK(counter_get(&evt_msgs) == 100, "a: exactly 100 messages");
        CHECK(counter_get(&evt_attaches) == 1, "a: attach count 1");
        CHECK(counter_get(&evt_disconnected) == 0, "a: never disconnected");
        CHECK(counter_get(&evt_detaches) == 0, "a: not detached while open");
    }
    return evt_finish();
}

static void
evt_scenario_pubsub(evt_server *sv)
{
    if (evt_setup("a", sv, "evloop.a", evt_on_msg, NULL))
        evt_loop_run("a", evt_step_pubsub, 1);
}

/* b. Server restart: SIGKILL the server, start it again on the same port:
 *    disconnected, second attach (from a library thread, same userData),
 *    reconnected, pub/sub works again. */
static int
evt_step_restart(void)
{
    int r;

    if (evt_phase <= 2) {
        r = evt_pubsub_phases(0, "evloop.b", 10, 10, "before the restart");
        return (r < 0) ? evt_finish() : 0;
    }
    switch (evt_phase) {
    case 3:
        evt_server_kill(evt_ctx.server);
        evt_next();
        return 0;
    case 4:
        r = evt_await(counter_get(&evt_disconnected) >= 1, 5000,
                      "b: disconnected callback once the server is killed");
        return (r < 0) ? evt_finish() : 0;
    case 5:
        if (!CHECK(evt_server_start(evt_ctx.server), "b: server started again on the same port"))
            return evt_finish();
        evt_next();
        return 0;
    case 6:
        r = evt_await(counter_get(&evt_reconnected) >= 1 && counter_get(&evt_attaches) >= 2,
                      EVT_WAIT_MS, "b: reconnected callback and a second attach");
        if (r < 0)
            fprintf(stderr, "# b: reconnected %d, attaches %d\n", counter_get(&evt_reconnected),
                    counter_get(&evt_attaches));
        if (r > 0) {
            pthread_mutex_lock(&evt_mu);
            CHECK(evt_reattachUserDataSame, "b: the second attach gets the first *userData");
            CHECK(evt_socketsNonBlocking, "b: the new socket is non-blocking");
            pthread_mutex_unlock(&evt_mu);
        }
        return (r < 0) ? evt_finish() : 0;
    default:
        r = evt_pubsub_phases(7, "evloop.b", 10, 20, "after the restart");
        if (r == 0)
            return 0;
        if (r > 0)
            CHECK(counter_get(&evt_attaches) == 2, "b: attach count 2");
        return evt_finish();
    }
}

static void
evt_scenario_restart(evt_server *sv)
{
    if (evt_setup("b", sv, "evloop.b", evt_on_msg, NULL))
        evt_loop_run("b", evt_step_restart, 2);
}

/* c. Frozen server: pings every 100 ms, 2 pings out at most; SIGSTOP the
 *    server: disconnected (stale connection); SIGCONT: reconnected. */
static natsStatus
evt_tune_stale(natsOptions *o)
{
    natsStatus s = natsOptions_SetPingInterval(o, 100);
    if (s == NATS_OK)
        s = natsOptions_SetMaxPingsOut(o, 2);
    return s;
}

static int
evt_step_frozen(void)
{
    int r;

    if (evt_phase <= 2) {
        r = evt_pubsub_phases(0, "evloop.c", 10, 10, "before the freeze");
        return (r < 0) ? evt_finish() : 0;
    }
    switch (evt_phase) {
    case 3:
        fprintf(stderr, "# c: SIGSTOP at %" PRId64 "\n", nats_Now() % 100000);
        evt_server_signal(evt_ctx.server, SIGSTOP);
        evt_next();
        return 0;
    case 4:
        r = evt_await(counter_get(&evt_disconnected) >= 1, 5000,
                      "c: disconnected callback within 5 s of freezing the server");
        if (r > 0) {
#ifdef NATS_LIBNATS_RS
            natsStatus cause;
            pthread_mutex_lock(&evt_mu);
            cause = evt_disconnectCause;
            pthread_mutex_unlock(&evt_mu);
            CHECK_STATUS(cause, NATS_STALE_CONNECTION, "c: the cause is a stale connection");
#endif
        }
        if (r < 0)
            evt_server_signal(evt_ctx.server, SIGCONT);
        return (r < 0) ? evt_finish() : 0;
    case 5:
        fprintf(stderr, "# c: SIGCONT at %" PRId64 "\n", nats_Now() % 100000);
        evt_server_signal(evt_ctx.server, SIGCONT);
        evt_next();
        return 0;
    case 6:
        r = evt_await(counter_get(&evt_reconnected) >= 1 && counter_get(&evt_attaches) >= 2,
                      EVT_WAIT_MS, "c: reconnected (second attach) once the server resumed");
        if (r < 0)
            fprintf(stderr, "# c: reconnected %d, attaches %d\n", counter_get(&evt_reconnected),
                    counter_get(&evt_attaches));
        return (r < 0) ? evt_finish() : 0;
    default:
        r = evt_pubsub_phases(7, "evloop.c", 10, 20, "after the resume");
        if (r == 0)
            return 0;
        if (r > 0)
            CHECK(counter_get(&evt_attaches) == 2, "c: attach count 2");
        return evt_finish();
    }
}

static void
evt_scenario_frozen(evt_server *sv)
{
    if (evt_setup("c", sv, "evloop.c", evt_on_msg, evt_tune_stale))
        evt_loop_run("c", evt_step_frozen, 2);
}

/* d1. Destroy from a loop timer while a flood is being read. */
#define EVT_FLOOD 20000

static int
evt_step_destroy_timer(void)
{
    int r;

    switch (evt_phase) {
    case 0:
        if (!CHECK(evt_job_start(&evt_ctx.job, EVT_JOB_FLUSH_FLOOD, evt_nc(), "evloop.d1",
                                 EVT_FLOOD, evt_ctx.server),
                   "d1: start the flood publisher (another connection)"))
            return evt_finish();
        evt_next();
        return 0;
    case 1:
        r = evt_await(counter_get(&evt_msgs) >= 500, EVT_WAIT_MS, "d1: messages are flowing");
        if (r == 0)
            return 0;
        if (r > 0) {
            natsConnection *nc;
            fprintf(stderr, "# d1: destroying after %d messages\n", counter_get(&evt_msgs));
            natsSubscription_Destroy(evt_ctx.sub);
            evt_ctx.sub = NULL;
            pthread_mutex_lock(&evt_ctxMu);
            nc = evt_ctx.nc;
            evt_ctx.nc = NULL;
            pthread_mutex_unlock(&evt_ctxMu);
            natsConnection_Destroy(nc);
            CHECK(true, "d1: natsConnection_Destroy from a loop timer returned");
            return 0;
        }
        return evt_finish();
    case 2:
        r = evt_await(evt_job_done(&evt_ctx.job), 20000, "d1: the flood publisher finished");
        if (r == 0)
            return 0;
        if (r > 0) {
            evt_job_join(&evt_ctx.job);
            CHECK_STATUS(evt_ctx.job.status, NATS_OK, "d1: flood publish status");
        }
        return evt_finish();
    default:
        return evt_finish();
    }
}

static void
evt_scenario_destroy_timer(evt_server *sv)
{
    if (evt_setup("d1", sv, "evloop.d1", evt_on_msg, NULL))
        evt_loop_run("d1", evt_step_destroy_timer, 1);
}

/* d2. Destroy from inside the message callback (a library thread) while the
 *     flood is being read. */
static void
evt_on_msg_destroy(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    natsConnection *mine = NULL;

    (void) sub;
    (void) closure;
    natsMsg_Destroy(msg);
    if (counter_add(&evt_msgs, 1) == evt_ctx.destroyAt) {
        pthread_mutex_lock(&evt_ctxMu);
        if (evt_ctx.nc == nc) {
            mine = evt_ctx.nc;
            evt_ctx.nc = NULL;
        }
        pthread_mutex_unlock(&evt_ctxMu);
        if (mine != NULL) {
            natsConnection_Destroy(mine);
            pthread_mutex_lock(&evt_ctxMu);
            evt_ctx.destroyedInCb = true;
            pthread_mutex_unlock(&evt_ctxMu);
        }
    }
}

static bool
evt_destroyed_in_cb(void)
{
    bool v;
    pthread_mutex_lock(&evt_ctxMu);
    v = evt_ctx.destroyedInCb;
    pthread_mutex_unlock(&evt_ctxMu);
    return v;
}

static int
evt_step_destroy_cb(void)
{
    int r;

    switch (evt_phase) {
    case 0:
        if (!CHECK(evt_job_start(&evt_ctx.job, EVT_JOB_FLUSH_FLOOD, evt_nc(), "evloop.d2",
                                 EVT_FLOOD, evt_ctx.server),
                   "d2: start the flood publisher (another connection)"))
            return evt_finish();
        evt_next();
        return 0;
    case 1:
        r = evt_await(evt_destroyed_in_cb(), EVT_WAIT_MS,
                      "d2: natsConnection_Destroy from the message callback returned");
        if (r < 0)
            fprintf(stderr, "# d2: %d messages\n", counter_get(&evt_msgs));
        return (r < 0) ? evt_finish() : 0;
    case 2:
        r = evt_await(evt_job_done(&evt_ctx.job), 20000, "d2: the flood publisher finished");
        if (r == 0)
            return 0;
        if (r > 0) {
            evt_job_join(&evt_ctx.job);
            CHECK_STATUS(evt_ctx.job.status, NATS_OK, "d2: flood publish status");
        }
        return evt_finish();
    default:
        return evt_finish();
    }
}

static void
evt_scenario_destroy_cb(evt_server *sv)
{
    if (evt_setup("d2", sv, "evloop.d2", evt_on_msg_destroy, NULL)) {
        evt_ctx.destroyAt = 300;
        evt_loop_run("d2", evt_step_destroy_cb, 1);
    }
}

/* e. Close then Destroy from a loop timer: detach exactly once, and the loop
 *    ends by itself (the adapter released everything). */
static int
evt_step_close(void)
{
    natsConnection *nc = evt_nc();

    natsConnection_Close(nc);
    CHECK(natsConnection_IsClosed(nc), "e: closed after natsConnection_Close on the loop thread");
    CHECK(counter_get(&evt_detaches) <= 1, "e: at most one detach so far");
    return evt_finish(); /* destroys it right away */
}

static void
evt_scenario_close(evt_server *sv)
{
    if (evt_setup("e", sv, NULL, NULL, NULL))
        evt_loop_run("e", evt_step_close, 1);
}

#ifdef NATS_LIBNATS_RS
/* g and h need a library that reconnects without the loop's help (libnats-rs
 * does it on its io thread; nats.c notices a lost socket when the loop reads
 * it), so they are compiled for libnats-rs only. */

/* g. A busy loop: the connection reconnects (natsConnection_Reconnect)
 *    while the loop thread is blocked in a timer callback. The old socket's
 *    read removal waits in the loop meanwhile, so the old socket must stay
 *    open (the library closes an attached socket only through
 *    natsConnection_ProcessCloseEvent), also once the new socket is
 *    attached; it is closed once the loop has run. */
static int
evt_step_busy_loop(void)
{
    int r;

    switch (evt_phase) {
    case 0:
        CHECK(evt_first_sock_open(), "g: the attached socket is open");
        if (!CHECK_STATUS(natsConnection_Reconnect(evt_nc()), NATS_OK,
                          "g: natsConnection_Reconnect"))
            return evt_finish();
        /* Blocks the loop thread (bounded) until the library reconnected. */
        if (!CHECK(counter_wait(&evt_attaches, 2, 5000) && counter_wait(&evt_reconnected, 1, 5000),
                   "g: reconnected and attached again while the loop thread is busy")) {
            fprintf(stderr, "# g: attaches %d, reconnected %d\n", counter_get(&evt_attaches),
                    counter_get(&evt_reconnected));
            return evt_finish();
        }
        CHECK(evt_first_sock_open(),
              "g: the old socket is still open (its close event is still queued in the loop)");
        evt_next();
        return 0;
    case 1:
        r = evt_await(!evt_first_sock_open(), 5000,
                      "g: the old socket is closed once the loop ran (close event)");
        return (r < 0) ? evt_finish() : 0;
    default:
        r = evt_pubsub_phases(2, "evloop.g", 10, 10, "after the reconnect");
        if (r == 0)
            return 0;
        return evt_finish();
    }
}

static void
evt_scenario_busy_loop(evt_server *sv)
{
    if (evt_setup("g", sv, "evloop.g", evt_on_msg, NULL))
        evt_loop_run("g", evt_step_busy_loop, 2);
}

/* h. Two connections on one busy loop (A attached first, then B): B
 *    reconnects, then A, while the loop thread is blocked. B's old socket
 *    must stay open until B's close event: else its descriptor number can
 *    go to A's new socket while the loop still watches it for B, and the
 *    loop, catching up (A's requests first, then B's), mixes the two up.
 *    Afterwards both connections must still work. */
static harness_counter  evt_msgsA;
static harness_counter  evt_msgsB;

static void
evt_on_msg_into(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    natsMsg_Destroy(msg);
    counter_add((harness_counter *) closure, 1);
}

/* Socket of the n-th successful attach of `nc` (n from 1), -1 if none. */
static natsSock
evt_attached_sock(natsConnection *nc, int n)
{
    natsSock    fd = -1;
    int         i;

    pthread_mutex_lock(&evt_mu);
    for (i = 0; i < evt_logN && fd == -1; i++)
        if (evt_log[i].nc == nc && --n == 0)
            fd = evt_log[i].fd;
    pthread_mutex_unlock(&evt_mu);
    return fd;
}

static int
evt_step_two_conns(void)
{
    natsConnection  *a = evt_nc();
    natsConnection  *b = evt_ctx.nc2;
    natsStatus      s;
    int             r;

    switch (evt_phase) {
    case 0:
        /* The loop thread is blocked (bounded) for the whole case. */
        s = natsConnection_Reconnect(b);
        if (!CHECK_STATUS(s, NATS_OK, "h: natsConnection_Reconnect(B)")
            || !CHECK(counter_wait(&evt_attaches, 3, 5000), "h: B attached again (loop busy)"))
            return evt_finish();
        s = natsConnection_Reconnect(a);
        if (!CHECK_STATUS(s, NATS_OK, "h: natsConnection_Reconnect(A)")
            || !CHECK(counter_wait(&evt_attaches, 4, 5000), "h: A attached again (loop busy)"))
            return evt_finish();
        fprintf(stderr, "# h: A sockets %d -> %d, B sockets %d -> %d\n",
                evt_attached_sock(a, 1), evt_attached_sock(a, 2), evt_attached_sock(b, 1),
                evt_attached_sock(b, 2));
        CHECK(evt_attached_sock(a, 2) != evt_attached_sock(b, 1),
              "h: A's new socket is not B's old descriptor (B's is still open)");
        evt_next();
        return 0;
    case 1:
        /* The loop ran the queued removals and attaches: publish on both. */
        s = publish_many(a, "evloop.hA", 10, "a");
        if (s == NATS_OK)
            s = publish_many(b, "evloop.hB", 10, "b");
        CHECK_STATUS(s, NATS_OK, "h: publish 10 on each connection from the loop thread");
        evt_next();
        return 0;
    case 2:
        r = evt_await(counter_get(&evt_msgsA) >= 10 && counter_get(&evt_msgsB) >= 10,
                      EVT_WAIT_MS, "h: both connections receive their 10 messages");
        if (r == 0)
            return 0;
        if (r < 0)
            fprintf(stderr, "# h: A got %d, B got %d; A status %d, B status %d\n",
                    counter_get(&evt_msgsA), counter_get(&evt_msgsB),
                    (int) natsConnection_Status(a), (int) natsConnection_Status(b));
        CHECK(natsConnection_Status(a) == NATS_CONN_STATUS_CONNECTED
                  && natsConnection_Status(b) == NATS_CONN_STATUS_CONNECTED,
              "h: both connections are connected");
        CHECK(counter_get(&evt_attaches) == 4, "h: attach count 4 (2 per connection)");
        return evt_finish();
    default:
        return evt_finish();
    }
}

static void
evt_scenario_two_conns(evt_server *sv)
{
    natsOptions *o;
    natsStatus  s;

    counter_init(&evt_msgsA);
    counter_init(&evt_msgsB);
    if (evt_setup("h", sv, "evloop.hA", evt_on_msg_into, NULL)) {
        /* evt_setup subscribed with closure NULL: subscribe again, counted. */
        natsSubscription_Destroy(evt_ctx.sub);
        evt_ctx.sub = NULL;
        pthread_mutex_lock(&evt_mu);
        evt_conns = 2;
        pthread_mutex_unlock(&evt_mu);
        s = natsConnection_Subscribe(&evt_ctx.sub, evt_nc(), "evloop.hA", evt_on_msg_into,
                                     &evt_msgsA);
        CHECK_STATUS(s, NATS_OK, "h: subscribe on A");
        o = evt_options(sv, evt_loopOf, "h");
        s = (o != NULL) ? natsConnection_Connect(&evt_ctx.nc2, o) : NATS_ERR;
        natsOptions_Destroy(o);
        if (CHECK_STATUS(s, NATS_OK, "h: connect B on the same loop")) {
            CHECK(counter_get(&evt_attaches) == 2, "h: B attached before Connect returned");
            s = natsConnection_Subscribe(&evt_ctx.sub2, evt_ctx.nc2, "evloop.hB", evt_on_msg_into,
                                         &evt_msgsB);
            CHECK_STATUS(s, NATS_OK, "h: subscribe on B");
        }
        evt_loop_run("h", evt_step_two_conns, 4);
    }
    counter_destroy(&evt_msgsA);
    counter_destroy(&evt_msgsB);
}

#endif /* NATS_LIBNATS_RS */

#endif /* NATS_FFI_TESTS_EVLOOP_COMMON_H */
