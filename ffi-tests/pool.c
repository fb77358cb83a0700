/*
 * pool.c - the library's shared message delivery pool and library settings:
 * NATS_DEFAULT_TO_LIB_MSG_DELIVERY / NATS_DEFAULT_LIB_MSG_DELIVERY_POOL_SIZE
 * (read by nats_Open), nats_OpenWithConfig (3.5+ headers),
 * natsOptions_UseGlobalMessageDelivery, nats_SetMessageDeliveryPoolSize,
 * round-robin assignment (subscription i on pool thread i mod size), pool
 * subscriptions with SubscribeTimeout and drain; plus the option setters
 * SetWriteDeadline, and (3.5+ headers) SetMessageBufferPadding and
 * SetProxyConnHandler.
 *
 * Runs differentially (built against nats.c 3.4.1's header it takes the
 * environment-variable path; against ours, nats_OpenWithConfig).
 */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#define WAIT_MS 5000
#define NSUBS 3

typedef struct {
    harness_counter got;
    harness_counter timeouts;
    pthread_t       thread;   /* the thread of the first callback */
    bool            have_thread;
} sub_state;

static sub_state       subs_st[NSUBS];
static sub_state       idle_st;
static harness_counter started;   /* ThreadStartedHandler calls */

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    sub_state *st = (sub_state *) closure;
    (void) nc;
    (void) sub;
    pthread_mutex_lock(&st->got.mu);
    if (!st->have_thread) {
        st->thread = pthread_self();
        st->have_thread = true;
    }
    pthread_mutex_unlock(&st->got.mu);
    if (msg == NULL) {
        counter_add(&st->timeouts, 1);
        return;
    }
    natsMsg_Destroy(msg);
    counter_add(&st->got, 1);
}

#if NATS_VERSION_NUMBER >= 0x030E00
static void
on_thread_started(void *closure)
{
    counter_add((harness_counter *) closure, 1);
}

static harness_counter proxy_calls;

/* Connects to the test server itself (127.0.0.1:port from NATS_URL). */
static natsStatus
proxy_ok(natsSock *fd, char *host, int port, void *closure)
{
    struct sockaddr_in a;
    int                s;
    (void) host;
    (void) closure;
    counter_add(&proxy_calls, 1);
    s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return NATS_SYS_ERROR;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t) port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, (struct sockaddr *) &a, sizeof(a)) != 0) {
        close(s);
        return NATS_NO_SERVER;
    }
    *fd = s;
    return NATS_OK;
}

static natsStatus
proxy_fail(natsSock *fd, char *host, int port, void *closure)
{
    (void) fd;
    (void) host;
    (void) port;
    (void) closure;
    counter_add(&proxy_calls, 1);
    return NATS_ERR;
}

/* Padding and the proxy handler (nats.c 3.5+ API). */
static void
newer_options(void)
{
    natsOptions      *opts = NULL;
    natsConnection   *nc = NULL;
    natsSubscription *sub = NULL;
    natsMsg          *m = NULL;
    const char       *urls[2];
    int               i, zeros = 0;

    if (!CHECK_STATUS(natsOptions_Create(&opts), NATS_OK, "natsOptions_Create (padding)"))
        return;
    CHECK_STATUS(natsOptions_SetMessageBufferPadding(NULL, 8), NATS_INVALID_ARG,
                 "SetMessageBufferPadding(NULL)");
    CHECK_STATUS(natsOptions_SetMessageBufferPadding(opts, -1), NATS_INVALID_ARG,
                 "SetMessageBufferPadding(-1)");
    CHECK_STATUS(natsOptions_SetMessageBufferPadding(opts, 16), NATS_OK,
                 "SetMessageBufferPadding(16)");
    natsOptions_SetURL(opts, test_url());
    if (CHECK_STATUS(natsConnection_Connect(&nc, opts), NATS_OK, "connect with padding")) {
        natsConnection_SubscribeSync(&sub, nc, "pad");
        natsConnection_PublishString(nc, "pad", "abc");
        if (CHECK_STATUS(natsSubscription_NextMsg(&m, sub, WAIT_MS), NATS_OK, "padded message")) {
            const char *d = natsMsg_GetData(m);
            for (i = 0; i < 17; i++)
                zeros += (d[3 + i] == 0);
            CHECK(zeros == 17, "payload followed by its NUL and 16 zero bytes");
            natsMsg_Destroy(m);
        }
        natsSubscription_Destroy(sub);
        natsConnection_Destroy(nc);
        nc = NULL;
    }

    counter_init(&proxy_calls);
    CHECK_STATUS(natsOptions_SetProxyConnHandler(NULL, proxy_ok, NULL), NATS_INVALID_ARG,
                 "SetProxyConnHandler(NULL)");
    CHECK_STATUS(natsOptions_SetProxyConnHandler(opts, proxy_ok, NULL), NATS_OK,
                 "SetProxyConnHandler");
    if (CHECK_STATUS(natsConnection_Connect(&nc, opts), NATS_OK, "connect through the handler")) {
        CHECK(counter_get(&proxy_calls) == 1, "handler called exactly once");
        CHECK_STATUS(natsConnection_PublishString(nc, "p", "x"), NATS_OK, "publish via handler");
        CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "flush via handler");
        natsConnection_Destroy(nc);
        nc = NULL;
    }
    counter_init(&proxy_calls);
    natsOptions_SetProxyConnHandler(opts, proxy_fail, NULL);
    urls[0] = test_url();
    urls[1] = test_dead_url();
    natsOptions_SetURL(opts, NULL);
    natsOptions_SetServers(opts, urls, 2);
    natsOptions_SetNoRandomize(opts, true);
    CHECK_STATUS(natsConnection_Connect(&nc, opts), NATS_NO_SERVER,
                 "a failing handler: NATS_NO_SERVER");
    CHECK(nc == NULL, "no connection when the handler fails");
    CHECK(counter_get(&proxy_calls) == 2, "one call per server");
    natsOptions_Destroy(opts);
}
#endif

int
main(void)
{
    natsOptions      *opts = NULL;
    natsConnection   *nc = NULL;
    natsSubscription *subs[NSUBS] = { NULL, NULL, NULL };
    natsSubscription *idle = NULL;
    int               i;

    counter_init(&started);
#if NATS_VERSION_NUMBER >= 0x030E00
    {
        natsClientConfig cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.LockSpinCount = -1;
        cfg.DefaultToThreadPool = true;
        cfg.ThreadPoolMax = 2;
        cfg.ThreadStartedHandler = on_thread_started;
        cfg.ThreadStartedHandlerClosure = &started;
        CHECK_STATUS(nats_OpenWithConfig(&cfg), NATS_OK, "open the library");
    }
#else
    /* nats.c 3.4.1 reads NATS_DEFAULT_TO_LIB_MSG_DELIVERY but not yet
     * NATS_DEFAULT_LIB_MSG_DELIVERY_POOL_SIZE (newer; we read both). */
    setenv("NATS_DEFAULT_TO_LIB_MSG_DELIVERY", "yes", 1);
    CHECK_STATUS(nats_Open(-1), NATS_OK, "open the library");
    CHECK_STATUS(nats_SetMessageDeliveryPoolSize(2), NATS_OK, "SetMessageDeliveryPoolSize(2)");
#endif
    CHECK_STATUS(nats_SetMessageDeliveryPoolSize(0), NATS_ERR, "SetMessageDeliveryPoolSize(0)");
    CHECK_STATUS(nats_SetMessageDeliveryPoolSize(-2), NATS_ERR,
                 "SetMessageDeliveryPoolSize(-2)");
    CHECK_STATUS(nats_SetMessageDeliveryPoolSize(1), NATS_OK,
                 "SetMessageDeliveryPoolSize(1): the pool does not shrink");

    CHECK_STATUS(natsOptions_UseGlobalMessageDelivery(NULL, true), NATS_INVALID_ARG,
                 "UseGlobalMessageDelivery(NULL)");
    CHECK_STATUS(natsOptions_SetWriteDeadline(NULL, 10), NATS_INVALID_ARG,
                 "SetWriteDeadline(NULL)");
    if (!CHECK_STATUS(natsOptions_Create(&opts), NATS_OK, "natsOptions_Create"))
        HARNESS_END();
    CHECK_STATUS(natsOptions_SetWriteDeadline(opts, -1), NATS_INVALID_ARG,
                 "SetWriteDeadline(-1)");
    CHECK_STATUS(natsOptions_SetWriteDeadline(opts, 0), NATS_OK, "SetWriteDeadline(0)");
    CHECK_STATUS(natsOptions_SetWriteDeadline(opts, 5000), NATS_OK, "SetWriteDeadline(5000)");
    natsOptions_SetURL(opts, test_url());
    if (!CHECK_STATUS(natsConnection_Connect(&nc, opts), NATS_OK, "connect"))
        HARNESS_END();

    /* The defaults say pool delivery, size 2: subscriptions 0 and 2 share a
     * thread, 1 has the other one. */
    for (i = 0; i < NSUBS; i++) {
        counter_init(&subs_st[i].got);
        counter_init(&subs_st[i].timeouts);
        CHECK_STATUSF(natsConnection_Subscribe(&subs[i], nc, "pool.x", on_msg, &subs_st[i]),
                      NATS_OK, "Subscribe %d", i);
    }
    for (i = 0; i < 10; i++)
        natsConnection_PublishString(nc, "pool.x", "m");
    natsConnection_Flush(nc);
    for (i = 0; i < NSUBS; i++)
        CHECKF(counter_wait(&subs_st[i].got, 10, WAIT_MS), "subscription %d got all 10", i);
    CHECK(pthread_equal(subs_st[0].thread, subs_st[2].thread),
          "subscriptions 0 and 2 share a pool thread");
    CHECK(!pthread_equal(subs_st[0].thread, subs_st[1].thread),
          "subscription 1 has the other pool thread");

    /* SubscribeTimeout on the pool: the callback gets NULL when idle. */
    counter_init(&idle_st.got);
    counter_init(&idle_st.timeouts);
    if (CHECK_STATUS(natsConnection_SubscribeTimeout(&idle, nc, "pool.idle", 50, on_msg, &idle_st),
                     NATS_OK, "SubscribeTimeout on the pool")) {
        CHECK(counter_wait(&idle_st.timeouts, 2, WAIT_MS), "idle callbacks on the pool");
        CHECK(counter_get(&idle_st.got) == 0, "no message on pool.idle");
        natsSubscription_Destroy(idle);
    }

    /* Draining a pool subscription stops its delivery. */
    CHECK_STATUS(natsSubscription_Drain(subs[0]), NATS_OK, "Drain a pool subscription");
    CHECK_STATUS(natsSubscription_WaitForDrainCompletion(subs[0], WAIT_MS), NATS_OK,
                 "pool drain completes");
    CHECK_STATUS(natsSubscription_DrainCompletionStatus(subs[0]), NATS_OK, "pool drain status");
    natsConnection_PublishString(nc, "pool.x", "after");
    natsConnection_Flush(nc);
    CHECK(counter_wait(&subs_st[1].got, 11, WAIT_MS), "the others still receive");
    CHECK(counter_get(&subs_st[0].got) == 10, "nothing after the drain");

    for (i = 0; i < NSUBS; i++)
        natsSubscription_Destroy(subs[i]);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
#if NATS_VERSION_NUMBER >= 0x030E00
    CHECK(counter_get(&started) > 0, "ThreadStartedHandler called");
    newer_options();
#endif
    nats_Close();
    HARNESS_END();
}
