/*
 * diff_stats.c - differential checks (nats.c 3.4.1 vs libnats-rs) of the
 * acceptance checklist items not covered elsewhere:
 *
 *  - connection statistics: natsStatistics_Create/GetCounts/Destroy and
 *    natsConnection_GetStats, NULL arguments, out/in message and byte counts
 *    (headers included, one count per delivering subscription), snapshots;
 *  - async slow consumer: a blocked callback with small pending limits drops
 *    messages, GetDropped counts them, the error handler gets
 *    NATS_SLOW_CONSUMER once per episode with the right subscription, and
 *    Publish/Flush keep working;
 *  - request/reply extras: empty bodies, concurrent requests from several
 *    threads, 1 ms timeouts that are never inconsistent, and Close during a
 *    pending request (NATS_CONNECTION_CLOSED).
 *
 * Everything printed is deterministic; every wait is bounded.
 */
#include "harness.h"

#define WAIT_MS 5000

/* "NATS/1.0\r\n" + "K: V\r\n" + "\r\n" */
#define HDR_KV_LEN 18

/* ------------------------------------------------------------------------ */
/* Connection statistics                                                     */

static bool
counts_are(natsStatistics *st, uint64_t im, uint64_t ib, uint64_t om, uint64_t ob,
           uint64_t rc)
{
    uint64_t a = 99, b = 99, c = 99, d = 99, e = 99;

    if (natsStatistics_GetCounts(st, &a, &b, &c, &d, &e) != NATS_OK)
        return false;
    if (a != im || b != ib || c != om || d != ob || e != rc)
        fprintf(stderr, "counts: in %llu/%llu out %llu/%llu reconnects %llu\n",
                (unsigned long long) a, (unsigned long long) b, (unsigned long long) c,
                (unsigned long long) d, (unsigned long long) e);
    return a == im && b == ib && c == om && d == ob && e == rc;
}

/* Takes `n` messages off a sync subscription. */
static bool
drain_n(natsSubscription *sub, int n)
{
    int i;
    for (i = 0; i < n; i++) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, WAIT_MS) != NATS_OK)
            return false;
        natsMsg_Destroy(m);
    }
    return true;
}

static void
statistics(void)
{
    natsStatistics   *st = NULL, *snap = NULL;
    natsConnection   *nc = NULL;
    natsSubscription *a = NULL, *b = NULL;
    natsMsg          *msg = NULL;
    uint64_t          v = 0, w = 0;
    natsStatus        s;

    if (!CHECK_STATUS(natsStatistics_Create(&st), NATS_OK, "natsStatistics_Create"))
        return;
    CHECK(st != NULL, "natsStatistics_Create returns an object");
    CHECK_STATUS(natsStatistics_Create(&snap), NATS_OK, "natsStatistics_Create a second one");
    CHECK(counts_are(st, 0, 0, 0, 0, 0), "a new statistics object has all counts 0");
    CHECK_STATUS(natsStatistics_GetCounts(NULL, &v, &v, &v, &v, &v), NATS_INVALID_ARG,
                 "GetCounts(NULL stats)");
    CHECK_STATUS(natsStatistics_GetCounts(NULL, NULL, NULL, NULL, NULL, NULL),
                 NATS_INVALID_ARG, "GetCounts(NULL stats, NULL out-params)");
    CHECK_STATUS(natsStatistics_GetCounts(st, NULL, NULL, NULL, NULL, NULL), NATS_OK,
                 "GetCounts with all out-params NULL");

    if (!CHECK_STATUS(natsConnection_ConnectTo(&nc, test_url()), NATS_OK,
                      "stats: connect")) {
        natsStatistics_Destroy(st);
        natsStatistics_Destroy(snap);
        return;
    }
    CHECK_STATUS(natsConnection_GetStats(NULL, st), NATS_INVALID_ARG, "GetStats(NULL nc)");
    CHECK_STATUS(natsConnection_GetStats(nc, NULL), NATS_INVALID_ARG, "GetStats(NULL stats)");
    CHECK_STATUS(natsConnection_GetStats(nc, st), NATS_OK, "GetStats on a new connection");
    CHECK(counts_are(st, 0, 0, 0, 0, 0), "a new connection has all counts 0");

    /* One subscriber: 2 messages to it, 1 to a subject nobody listens on. */
    s = natsConnection_SubscribeSync(&a, nc, "dst.subj");
    if (s == NATS_OK) s = natsConnection_Flush(nc);
    if (!CHECK_STATUS(s, NATS_OK, "stats: first subscription"))
        goto done;
    CHECK_STATUS(natsConnection_GetStats(nc, st), NATS_OK, "GetStats after subscribing");
    CHECK(counts_are(st, 0, 0, 0, 0, 0), "subscribe and flush are not counted");
    s = natsConnection_PublishString(nc, "dst.subj", "hello");
    if (s == NATS_OK) s = natsConnection_PublishString(nc, "dst.subj", "hello");
    if (s == NATS_OK) s = natsConnection_PublishString(nc, "dst.nobody", "hello");
    if (s == NATS_OK) s = natsConnection_Flush(nc);
    CHECK_STATUS(s, NATS_OK, "stats: publish 3 messages of 5 bytes");
    CHECK(drain_n(a, 2), "stats: first subscription got 2 messages");
    CHECK_STATUS(natsConnection_GetStats(nc, st), NATS_OK, "GetStats after publishing");
    CHECK(counts_are(st, 2, 10, 3, 15, 0),
          "one subscription: in 2 msgs/10 bytes, out 3 msgs/15 bytes");
    CHECK_STATUS(natsConnection_GetStats(nc, snap), NATS_OK, "GetStats into a snapshot");

    /* A second subscription on the same subject doubles the in counts. */
    s = natsConnection_SubscribeSync(&b, nc, "dst.subj");
    if (s == NATS_OK) s = natsConnection_Flush(nc);
    if (!CHECK_STATUS(s, NATS_OK, "stats: second subscription on the same subject"))
        goto done;
    s = natsMsg_Create(&msg, "dst.subj", NULL, "abc", 3);
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "K", "V");
    if (s == NATS_OK) s = natsConnection_PublishMsg(nc, msg);
    natsMsg_Destroy(msg);
    CHECK_STATUS(s, NATS_OK, "stats: PublishMsg with a header");
    CHECK_STATUS(natsConnection_Publish(nc, "dst.subj", NULL, 0), NATS_OK,
                 "stats: Publish an empty message");
    CHECK_STATUS(natsConnection_PublishString(nc, "dst.subj", "hello"), NATS_OK,
                 "stats: PublishString");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "stats: flush");
    CHECK(drain_n(a, 3), "stats: first subscription got 3 more messages");
    CHECK(drain_n(b, 3), "stats: second subscription got 3 messages");
    CHECK_STATUS(natsConnection_GetStats(nc, st), NATS_OK, "GetStats with two subscriptions");
    CHECK(counts_are(st, 2 + 2 * 3, 10 + 2 * (HDR_KV_LEN + 3 + 0 + 5), 3 + 3,
                     15 + HDR_KV_LEN + 3 + 0 + 5, 0),
          "two subscriptions double in msgs/bytes; out bytes include the header");
    CHECK(counts_are(snap, 2, 10, 3, 15, 0), "a statistics object is a snapshot");

    /* Out-params may be NULL individually. */
    v = 0;
    w = 0;
    CHECK_STATUS(natsStatistics_GetCounts(st, NULL, NULL, &v, NULL, NULL), NATS_OK,
                 "GetCounts with only outMsgs");
    CHECK(v == 6, "GetCounts with only outMsgs fills it");
    CHECK_STATUS(natsStatistics_GetCounts(st, &v, NULL, NULL, &w, NULL), NATS_OK,
                 "GetCounts with inMsgs and outBytes");
    CHECK(v == 8 && w == (uint64_t) (15 + HDR_KV_LEN + 3 + 0 + 5),
          "GetCounts with inMsgs and outBytes fills them");

    natsConnection_Close(nc);
    CHECK_STATUS(natsConnection_GetStats(nc, snap), NATS_OK, "GetStats after Close");
    CHECK(counts_are(snap, 8, 10 + 2 * (HDR_KV_LEN + 3 + 0 + 5), 6,
                     15 + HDR_KV_LEN + 3 + 0 + 5, 0),
          "GetStats after Close keeps the final counts");

done:
    natsSubscription_Destroy(a);
    natsSubscription_Destroy(b);
    natsConnection_Destroy(nc);
    natsStatistics_Destroy(st);
    natsStatistics_Destroy(snap);
    natsStatistics_Destroy(NULL); /* harmless */
}

/* ------------------------------------------------------------------------ */
/* Async slow consumer                                                       */

/* Static storage, mutexes never destroyed: library threads may still be
 * returning from a callback after the objects are destroyed. */
typedef struct {
    harness_counter   entered;   /* slow callbacks entered; its mu guards all below */
    bool              block;     /* the next slow callback blocks until released */
    bool              released;
    harness_counter   errs;      /* error handler calls; its mu guards the next 3 */
    natsSubscription *want_sub;
    int               wrong_status;
    int               wrong_sub;
    harness_counter   fast;      /* fast subscription callbacks */
    harness_counter   closed;
} slow_state;

static slow_state sc;

static void
on_slow(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    slow_state     *st = (slow_state *) closure;
    struct timespec deadline;

    (void) nc;
    (void) sub;
    natsMsg_Destroy(msg);
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10; /* never block forever, even if the test fails */

    pthread_mutex_lock(&st->entered.mu);
    st->entered.count++;
    pthread_cond_broadcast(&st->entered.cond);
    if (st->block) {
        st->block = false;
        while (!st->released) {
            if (pthread_cond_timedwait(&st->entered.cond, &st->entered.mu, &deadline)
                == ETIMEDOUT)
                break;
        }
        st->released = false;
    }
    pthread_mutex_unlock(&st->entered.mu);
}

static void
on_fast(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    natsMsg_Destroy(msg);
    counter_add(&((slow_state *) closure)->fast, 1);
}

static void
on_err(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    slow_state *st = (slow_state *) closure;

    (void) nc;
    pthread_mutex_lock(&st->errs.mu);
    if (err != NATS_SLOW_CONSUMER)
        st->wrong_status++;
    if (sub != st->want_sub)
        st->wrong_sub++;
    st->errs.count++;
    pthread_cond_broadcast(&st->errs.cond);
    pthread_mutex_unlock(&st->errs.mu);
}

static void
on_closed(natsConnection *nc, void *closure)
{
    (void) nc;
    counter_add(&((slow_state *) closure)->closed, 1);
}

static void
set_block(void)
{
    pthread_mutex_lock(&sc.entered.mu);
    sc.block    = true;
    sc.released = false;
    pthread_mutex_unlock(&sc.entered.mu);
}

static void
release_block(void)
{
    pthread_mutex_lock(&sc.entered.mu);
    sc.released = true;
    pthread_cond_broadcast(&sc.entered.cond);
    pthread_mutex_unlock(&sc.entered.mu);
}

static void
expect_sub(natsSubscription *sub, const char *what, int pending, int64_t dropped,
           int64_t delivered)
{
    int     msgs = -1;
    int64_t d = -1, dl = -1;

    CHECK_STATUSF(natsSubscription_GetPending(sub, &msgs, NULL), NATS_OK, "%s: GetPending",
                  what);
    CHECKF(msgs == pending, "%s: %d pending", what, pending);
    CHECK_STATUSF(natsSubscription_GetDropped(sub, &d), NATS_OK, "%s: GetDropped", what);
    CHECKF(d == dropped, "%s: GetDropped %d", what, (int) dropped);
    if (delivered >= 0) {
        CHECK_STATUSF(natsSubscription_GetDelivered(sub, &dl), NATS_OK, "%s: GetDelivered",
                      what);
        CHECKF(dl == delivered, "%s: GetDelivered %d", what, (int) delivered);
    }
    if (msgs != pending || d != dropped || (delivered >= 0 && dl != delivered))
        fprintf(stderr, "%s: pending %d dropped %lld delivered %lld\n", what, msgs,
                (long long) d, (long long) dl);
}

static void
slow_consumer(void)
{
    natsOptions      *opts = NULL;
    natsConnection   *nc   = NULL;
    natsSubscription *slow = NULL, *fast = NULL;
    const char       *txt  = NULL;
    natsStatus        s;
    int               n;

    counter_init(&sc.entered);
    counter_init(&sc.errs);
    counter_init(&sc.fast);
    counter_init(&sc.closed);

    s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, test_url());
    if (s == NATS_OK) s = natsOptions_SetErrorHandler(opts, on_err, &sc);
    if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, on_closed, &sc);
    if (s == NATS_OK) s = natsConnection_Connect(&nc, opts);
    natsOptions_Destroy(opts);
    if (!CHECK_STATUS(s, NATS_OK, "slow consumer: connect with an error handler"))
        return;

    pthread_mutex_lock(&sc.errs.mu);
    s = natsConnection_Subscribe(&slow, nc, "dsc.slow", on_slow, &sc);
    sc.want_sub = slow;
    pthread_mutex_unlock(&sc.errs.mu);
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(slow, 5, 1024 * 1024);
    if (s == NATS_OK) s = natsConnection_Subscribe(&fast, nc, "dsc.fast", on_fast, &sc);
    if (s == NATS_OK) s = natsConnection_Flush(nc);
    if (!CHECK_STATUS(s, NATS_OK, "slow consumer: subscribe with a 5 message limit"))
        goto done;

    /* Episode 1: the callback blocks on the first message. */
    set_block();
    CHECK_STATUS(natsConnection_PublishString(nc, "dsc.slow", "first"), NATS_OK,
                 "episode 1: publish the blocking message");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "episode 1: flush");
    CHECK(counter_wait(&sc.entered, 1, WAIT_MS), "episode 1: callback blocked");

    CHECK_STATUS(publish_many(nc, "dsc.slow", 20, "x"), NATS_OK,
                 "episode 1: Publish 20 succeeds while the consumer is slow");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK,
                 "episode 1: Flush succeeds while the consumer is slow");
    CHECK(wait_seen(slow, 20), "episode 1: 20 messages seen");
    CHECK(counter_wait(&sc.errs, 1, WAIT_MS), "episode 1: error handler called");
    expect_sub(slow, "episode 1", 5, 15, -1);

    /* More overflow in the same episode: no new error callback. */
    CHECK_STATUS(publish_many(nc, "dsc.slow", 5, "x"), NATS_OK, "episode 1: Publish 5 more");
    CHECK_STATUS(publish_many(nc, "dsc.fast", 10, "x"), NATS_OK,
                 "episode 1: Publish 10 to another subscription");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "episode 1: Flush again");
    CHECK(wait_seen(slow, 25), "episode 1: 25 messages seen");
    CHECK(counter_wait(&sc.fast, 10, WAIT_MS),
          "episode 1: another subscription is not blocked by the slow one");
    expect_sub(slow, "episode 1 continued", 5, 20, -1);
    pthread_mutex_lock(&sc.errs.mu);
    CHECK(sc.errs.count == 1, "episode 1: exactly one error callback");
    CHECK(sc.wrong_status == 0, "episode 1: error handler got NATS_SLOW_CONSUMER");
    CHECK(sc.wrong_sub == 0, "episode 1: error handler got the slow subscription");
    pthread_mutex_unlock(&sc.errs.mu);
    CHECK_STATUS(natsConnection_GetLastError(nc, &txt), NATS_SLOW_CONSUMER,
                 "episode 1: connection last error is NATS_SLOW_CONSUMER");
    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED,
          "episode 1: connection still CONNECTED");

    /* Catch up. */
    release_block();
    CHECK(counter_wait(&sc.entered, 6, WAIT_MS), "catch-up: the 5 pending messages delivered");
    expect_sub(slow, "after catch-up", 0, 20, 6);
    CHECK(counter_get(&sc.errs) == 1, "catch-up: no error callback");

    /* Episode 2: block again and overflow again. */
    set_block();
    CHECK_STATUS(natsConnection_PublishString(nc, "dsc.slow", "second"), NATS_OK,
                 "episode 2: publish the blocking message");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "episode 2: flush");
    CHECK(counter_wait(&sc.entered, 7, WAIT_MS), "episode 2: callback blocked");
    CHECK_STATUS(publish_many(nc, "dsc.slow", 10, "x"), NATS_OK,
                 "episode 2: Publish 10 succeeds while the consumer is slow");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK,
                 "episode 2: Flush succeeds while the consumer is slow");
    CHECK(wait_seen(slow, 5 + 25), "episode 2: 10 messages seen");
    CHECK(counter_wait(&sc.errs, 2, WAIT_MS), "episode 2: error handler called again");
    expect_sub(slow, "episode 2", 5, 25, -1);
    pthread_mutex_lock(&sc.errs.mu);
    CHECK(sc.errs.count == 2, "episode 2: exactly one more error callback");
    CHECK(sc.wrong_status == 0, "episode 2: error handler got NATS_SLOW_CONSUMER");
    CHECK(sc.wrong_sub == 0, "episode 2: error handler got the slow subscription");
    pthread_mutex_unlock(&sc.errs.mu);

    release_block();
    CHECK(counter_wait(&sc.entered, 12, WAIT_MS), "episode 2: catch-up");
    expect_sub(slow, "after episode 2", 0, 25, 12);

done:
    natsConnection_Close(nc);
    CHECK(counter_wait(&sc.closed, 1, WAIT_MS), "slow consumer: closed callback");
    n = counter_get(&sc.errs);
    CHECKF(n == 2, "slow consumer: 2 error callbacks in total (one per episode)");
    if (n != 2)
        fprintf(stderr, "error callbacks: %d\n", n);
    natsSubscription_Destroy(slow);
    natsSubscription_Destroy(fast);
    natsConnection_Destroy(nc);
}

/* ------------------------------------------------------------------------ */
/* Request / reply extras                                                    */

static void
empty_bodies(natsConnection *nc)
{
    natsMsg   *reply = NULL, *req = NULL;
    natsStatus s;

    s = natsConnection_Request(&reply, nc, "drr.svc", NULL, 0, WAIT_MS);
    CHECK_STATUS(s, NATS_OK, "Request(NULL, 0)");
    CHECK(reply_is(reply, "re:"), "Request(NULL, 0) gets the reply to an empty body");
    natsMsg_Destroy(reply);
    reply = NULL;

    s = natsConnection_Request(&reply, nc, "drr.svc", "ignored", 0, WAIT_MS);
    CHECK_STATUS(s, NATS_OK, "Request(data, 0)");
    CHECK(reply_is(reply, "re:"), "Request(data, 0) sends an empty body");
    natsMsg_Destroy(reply);
    reply = NULL;

    s = natsConnection_RequestString(&reply, nc, "drr.svc", "", WAIT_MS);
    CHECK_STATUS(s, NATS_OK, "RequestString(\"\")");
    CHECK(reply_is(reply, "re:"), "RequestString(\"\") gets the reply to an empty body");
    natsMsg_Destroy(reply);
    reply = NULL;

    s = natsMsg_Create(&req, "drr.svc", NULL, NULL, 0);
    if (CHECK_STATUS(s, NATS_OK, "natsMsg_Create with no data")) {
        s = natsConnection_RequestMsg(&reply, nc, req, WAIT_MS);
        CHECK_STATUS(s, NATS_OK, "RequestMsg with an empty body");
        CHECK(reply_is(reply, "re:"), "RequestMsg with an empty body gets the reply");
        natsMsg_Destroy(reply);
        natsMsg_Destroy(req);
    }
}

#define REQ_THREADS 4
#define REQ_PER_THREAD 25

typedef struct {
    natsConnection *nc;
    int             id;
    int             good;
} req_worker;

static void *
request_worker(void *arg)
{
    req_worker *w = (req_worker *) arg;
    int         i;

    for (i = 0; i < REQ_PER_THREAD; i++) {
        char     data[32], want[40];
        natsMsg *reply = NULL;

        snprintf(data, sizeof(data), "t%d-%d", w->id, i);
        snprintf(want, sizeof(want), "re:%s", data);
        if (natsConnection_RequestString(&reply, w->nc, "drr.svc", data, WAIT_MS) == NATS_OK
            && reply_is(reply, want))
            w->good++;
        natsMsg_Destroy(reply);
    }
    return NULL;
}

static void
concurrent_requests(natsConnection *nc)
{
    pthread_t  th[REQ_THREADS];
    req_worker w[REQ_THREADS];
    bool       started[REQ_THREADS];
    int        i, total = 0, all_threads = 1;

    for (i = 0; i < REQ_THREADS; i++) {
        w[i].nc   = nc;
        w[i].id   = i;
        w[i].good = 0;
        started[i] = (pthread_create(&th[i], NULL, request_worker, &w[i]) == 0);
    }
    for (i = 0; i < REQ_THREADS; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        else
            all_threads = 0;
        total += w[i].good;
        if (w[i].good != REQ_PER_THREAD)
            fprintf(stderr, "thread %d: %d good replies\n", i, w[i].good);
    }
    CHECK(all_threads, "4 requester threads started");
    CHECK(total == REQ_THREADS * REQ_PER_THREAD,
          "4 threads x 25 concurrent requests each get their own reply");
}

static void
tiny_timeouts(natsConnection *nc)
{
    int        i, inconsistent = 0;
    natsMsg   *reply = NULL;
    natsStatus s;

    for (i = 0; i < 200; i++) {
        reply = NULL;
        s = natsConnection_RequestString(&reply, nc, "drr.svc", "quick", 1);
        if (s == NATS_OK) {
            if (!reply_is(reply, "re:quick"))
                inconsistent++;
        } else if (s == NATS_TIMEOUT) {
            if (reply != NULL)
                inconsistent++;
        } else {
            inconsistent++;
            fprintf(stderr, "1 ms request: status %d\n", (int) s);
        }
        natsMsg_Destroy(reply);
    }
    CHECK(inconsistent == 0,
          "200 requests with a 1 ms timeout: no inconsistent result "
          "(NATS_OK with the reply or NATS_TIMEOUT with NULL)");

    reply = NULL;
    s = natsConnection_RequestString(&reply, nc, "drr.svc", "after", WAIT_MS);
    CHECK_STATUS(s, NATS_OK, "Request after 1 ms timeouts");
    CHECK(reply_is(reply, "re:after"), "Request after 1 ms timeouts gets its own reply");
    natsMsg_Destroy(reply);
}

typedef struct {
    natsConnection *nc;
    natsStatus      status;
    natsMsg        *reply;
    harness_counter done;
} pending_req;

static void *
pending_request(void *arg)
{
    pending_req *p = (pending_req *) arg;
    natsMsg     *reply = NULL;
    natsStatus   s;

    s = natsConnection_RequestString(&reply, p->nc, "drr.silent", "wait", 15000);
    pthread_mutex_lock(&p->done.mu);
    p->status = s;
    p->reply  = reply;
    p->done.count++;
    pthread_cond_broadcast(&p->done.cond);
    pthread_mutex_unlock(&p->done.mu);
    return NULL;
}

static void
close_during_request(natsConnection *srv)
{
    static pending_req p; /* static: its mutex is never destroyed */
    natsSubscription  *silent = NULL;
    natsMsg           *got = NULL;
    pthread_t          th;
    natsStatus         s;

    memset(&p, 0, sizeof(p));
    counter_init(&p.done);
    p.status = NATS_OK;

    s = natsConnection_SubscribeSync(&silent, srv, "drr.silent");
    if (s == NATS_OK) s = natsConnection_Flush(srv);
    if (s == NATS_OK) s = natsConnection_ConnectTo(&p.nc, test_url());
    if (!CHECK_STATUS(s, NATS_OK, "close during request: setup")) {
        natsSubscription_Destroy(silent);
        return;
    }
    if (!CHECK(pthread_create(&th, NULL, pending_request, &p) == 0,
               "close during request: requester thread started")) {
        natsConnection_Destroy(p.nc);
        natsSubscription_Destroy(silent);
        return;
    }
    /* The request reached the (silent) responder: it is pending now. */
    s = natsSubscription_NextMsg(&got, silent, WAIT_MS);
    CHECK_STATUS(s, NATS_OK, "close during request: the request was sent");
    natsMsg_Destroy(got);
    CHECK(counter_get(&p.done) == 0, "close during request: the request is still pending");

    natsConnection_Close(p.nc);
    CHECK(counter_wait(&p.done, 1, WAIT_MS),
          "close during request: the pending request returns on Close");
    pthread_join(th, NULL);
    CHECK_STATUS(p.status, NATS_CONNECTION_CLOSED,
                 "close during request: Request returns NATS_CONNECTION_CLOSED");
    CHECK(p.reply == NULL, "close during request: no reply message");
    natsMsg_Destroy(p.reply);
    natsConnection_Destroy(p.nc);
    natsSubscription_Destroy(silent);
}

static void
request_reply(void)
{
    natsConnection   *nc = NULL, *srv = NULL;
    natsSubscription *service = NULL;
    natsStatus        s;

    s = natsConnection_ConnectTo(&nc, test_url());
    if (s == NATS_OK) s = natsConnection_ConnectTo(&srv, test_url());
    if (s == NATS_OK) s = natsConnection_Subscribe(&service, srv, "drr.svc", on_request, NULL);
    if (s == NATS_OK) s = natsConnection_Flush(srv);
    if (CHECK_STATUS(s, NATS_OK, "request/reply: requestor and replier ready")) {
        empty_bodies(nc);
        concurrent_requests(nc);
        tiny_timeouts(nc);
        close_during_request(srv);
    }
    natsConnection_Close(nc);
    natsSubscription_Destroy(service);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(srv);
}

int
main(void)
{
    statistics();
    slow_consumer();
    request_reply();
    nats_Close();
    HARNESS_END();
}
