/*
 * async_sub.c - asynchronous subscriptions: callbacks, ordering, closed and
 * disconnected callbacks, unsubscribe from inside a callback, queue groups,
 * and SubscribeTimeout / QueueSubscribeTimeout.
 *
 * Every wait is bounded (harness counter + condition variable); sleeps are
 * never used for synchronization.
 */
#include "harness.h"

#define WAIT_MS 5000
#define MAX_MSGS 100

typedef struct {
    harness_counter   c;          /* number of callbacks with a message */
    harness_counter   timeouts;   /* number of callbacks with msg == NULL */
    int               seq[MAX_MSGS];
    int               n;          /* entries in seq (under c.mu) */
    int               unsub_at;   /* unsubscribe inside the callback at this count */
    natsStatus        unsub_status;
    natsConnection   *want_nc;
    natsSubscription *want_sub;   /* set after Subscribe returns (under c.mu) */
    int               wrong_args;
    int               not_nul_terminated;
    harness_counter  *total;      /* optional counter shared by several subscriptions */
} recv_state;

static void
state_init(recv_state *st)
{
    memset(st, 0, sizeof(*st));
    counter_init(&st->c);
    counter_init(&st->timeouts);
    st->unsub_status = NATS_OK;
}

/* Callback states live in static storage and their mutexes are never
 * destroyed: a library delivery thread may still be returning from a
 * callback after the subscription was destroyed. */
static recv_state      st_basic, st_unsub, st_qa, st_qb, st_timeout, st_qtimeout, st_bad;
static harness_counter q_total;

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    recv_state *st = (recv_state *) closure;
    int         count;

    if (msg == NULL) {
        counter_add(&st->timeouts, 1);
        return;
    }
    pthread_mutex_lock(&st->c.mu);
    if (nc != st->want_nc || (st->want_sub != NULL && sub != st->want_sub))
        st->wrong_args++;
    if (natsMsg_GetData(msg)[natsMsg_GetDataLength(msg)] != '\0')
        st->not_nul_terminated++;
    if (st->n < MAX_MSGS)
        st->seq[st->n++] = atoi(natsMsg_GetData(msg));
    count = st->c.count + 1;
    pthread_mutex_unlock(&st->c.mu);

    if (st->unsub_at > 0 && count == st->unsub_at) {
        natsStatus s = natsSubscription_Unsubscribe(sub);
        pthread_mutex_lock(&st->c.mu);
        st->unsub_status = s;
        pthread_mutex_unlock(&st->c.mu);
    }
    natsMsg_Destroy(msg);
    counter_add(&st->c, 1);
    if (st->total != NULL)
        counter_add(st->total, 1);
}

static natsStatus
publish_seq(natsConnection *nc, const char *subj, int n)
{
    natsStatus s = NATS_OK;
    int        i;
    for (i = 0; i < n && s == NATS_OK; i++) {
        char data[16];
        snprintf(data, sizeof(data), "%d", i);
        s = natsConnection_PublishString(nc, subj, data);
    }
    if (s == NATS_OK)
        s = natsConnection_Flush(nc);
    return s;
}

static void
basic_async(natsConnection *nc)
{
    enum { N = 50 };
    recv_state       *st = &st_basic;
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    natsStatus        s;
    int               i, in_order = 1;

    state_init(st);
    st->want_nc = nc;
    pthread_mutex_lock(&st->c.mu);
    s = natsConnection_Subscribe(&sub, nc, "as.basic", on_msg, st);
    st->want_sub = sub;
    pthread_mutex_unlock(&st->c.mu);
    if (!CHECK_STATUS(s, NATS_OK, "Subscribe with a callback")) {
        return;
    }
    CHECK(natsSubscription_IsValid(sub), "async subscription IsValid");
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 100), NATS_ILLEGAL_STATE,
                 "NextMsg on an async subscription");
    CHECK(msg == NULL, "NextMsg on an async subscription returns no message");

    CHECK_STATUS(publish_seq(nc, "as.basic", N), NATS_OK, "publish 50 messages + flush");
    CHECK(counter_wait(&st->c, N, WAIT_MS), "callback received 50 messages");

    pthread_mutex_lock(&st->c.mu);
    for (i = 0; i < st->n; i++)
        if (st->seq[i] != i)
            in_order = 0;
    CHECK(st->n == N && in_order, "messages arrive in publish order");
    CHECK(st->wrong_args == 0, "callback gets the connection and subscription");
    CHECK(st->not_nul_terminated == 0, "callback data is NUL-terminated");
    pthread_mutex_unlock(&st->c.mu);

    CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_OK, "Unsubscribe async subscription");
    CHECK(!natsSubscription_IsValid(sub), "async subscription invalid after Unsubscribe");
    natsSubscription_Destroy(sub);
}

static void
unsubscribe_in_callback(natsConnection *nc)
{
    recv_state       *st = &st_unsub;
    natsSubscription *sub = NULL;
    natsStatus        s;

    state_init(st);
    st->want_nc  = nc;
    st->unsub_at = 5;
    s = natsConnection_Subscribe(&sub, nc, "as.unsub", on_msg, st);
    if (!CHECK_STATUS(s, NATS_OK, "Subscribe (unsubscribe in callback)")) {
        return;
    }
    CHECK_STATUS(publish_seq(nc, "as.unsub", 20), NATS_OK, "publish 20 messages + flush");
    CHECK(counter_wait(&st->c, 5, WAIT_MS), "5 messages delivered before unsubscribe");
    /* Another round trip, then give any wrongly delivered 6th message a
     * bounded chance to show up. */
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "flush after unsubscribe in callback");
    CHECK(!counter_wait(&st->c, 6, 300), "no message after Unsubscribe in callback");
    CHECK(counter_get(&st->c) == 5, "exactly 5 messages delivered");
    pthread_mutex_lock(&st->c.mu);
    CHECK_STATUS(st->unsub_status, NATS_OK, "Unsubscribe inside the callback");
    pthread_mutex_unlock(&st->c.mu);
    CHECK(!natsSubscription_IsValid(sub), "subscription invalid after Unsubscribe in callback");
    natsSubscription_Destroy(sub);
}

static void
queue_subscribe(natsConnection *nc)
{
    enum { N = 40 };
    recv_state       *a = &st_qa, *b = &st_qb;
    harness_counter  *total = &q_total;
    natsSubscription *qa = NULL, *qb = NULL;
    natsStatus        s;
    int               seen[N];
    int               i, dup = 0, bad = 0;

    state_init(a);
    state_init(b);
    counter_init(total);
    a->want_nc = b->want_nc = nc;
    a->total = b->total = total;
    s = natsConnection_QueueSubscribe(&qa, nc, "as.queue", "grp", on_msg, a);
    if (s == NATS_OK)
        s = natsConnection_QueueSubscribe(&qb, nc, "as.queue", "grp", on_msg, b);
    if (!CHECK_STATUS(s, NATS_OK, "QueueSubscribe x2")) {
        natsSubscription_Destroy(qa);
        return;
    }
    CHECK_STATUS(publish_seq(nc, "as.queue", N), NATS_OK, "publish 40 queue messages + flush");

    CHECK(counter_wait(total, N, WAIT_MS), "queue members received 40 messages in total");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "flush after queue delivery");
    CHECK(!counter_wait(total, N + 1, 200), "no extra queue deliveries");

    memset(seen, 0, sizeof(seen));
    pthread_mutex_lock(&a->c.mu);
    for (i = 0; i < a->n; i++) {
        if (a->seq[i] < 0 || a->seq[i] >= N) bad++;
        else if (seen[a->seq[i]]++) dup++;
    }
    pthread_mutex_unlock(&a->c.mu);
    pthread_mutex_lock(&b->c.mu);
    for (i = 0; i < b->n; i++) {
        if (b->seq[i] < 0 || b->seq[i] >= N) bad++;
        else if (seen[b->seq[i]]++) dup++;
    }
    pthread_mutex_unlock(&b->c.mu);
    CHECK(dup == 0 && bad == 0, "each queue message delivered to exactly one member");

    natsSubscription_Destroy(qa);
    natsSubscription_Destroy(qb);
}

static void
subscribe_timeout(natsConnection *nc, bool queue)
{
    recv_state       *st = queue ? &st_qtimeout : &st_timeout;
    natsSubscription *sub = NULL;
    natsStatus        s;
    const char       *what = queue ? "QueueSubscribeTimeout" : "SubscribeTimeout";
    const char       *subj = queue ? "as.qtimeout" : "as.timeout";

    state_init(st);
    st->want_nc = nc;
    if (queue)
        s = natsConnection_QueueSubscribeTimeout(&sub, nc, subj, "grp", 100, on_msg, st);
    else
        s = natsConnection_SubscribeTimeout(&sub, nc, subj, 100, on_msg, st);
    if (!CHECK_STATUSF(s, NATS_OK, "%s(100 ms)", what)) {
        return;
    }
    CHECKF(counter_wait(&st->timeouts, 1, WAIT_MS),
           "%s: callback invoked with msg == NULL when idle", what);
    CHECKF(counter_get(&st->c) == 0, "%s: no message callbacks yet", what);

    /* Real messages still go to the same callback. */
    CHECK_STATUSF(publish_seq(nc, subj, 3), NATS_OK, "%s: publish 3 + flush", what);
    CHECKF(counter_wait(&st->c, 3, WAIT_MS), "%s: 3 messages delivered", what);

    /* And the timer restarts: another NULL callback after the messages. */
    {
        int before = counter_get(&st->timeouts);
        CHECKF(counter_wait(&st->timeouts, before + 1, WAIT_MS),
               "%s: timeout callback again after messages", what);
    }
    natsSubscription_Destroy(sub);
}

static void
bad_timeouts(natsConnection *nc)
{
    recv_state       *st = &st_bad;
    natsSubscription *sub = NULL;

    state_init(st);
    CHECK_STATUS(natsConnection_SubscribeTimeout(&sub, nc, "as.t", 0, on_msg, st),
                 NATS_INVALID_ARG, "SubscribeTimeout(timeout 0)");
    CHECK_STATUS(natsConnection_SubscribeTimeout(&sub, nc, "as.t", -1, on_msg, st),
                 NATS_INVALID_ARG, "SubscribeTimeout(timeout -1)");
    CHECK_STATUS(natsConnection_QueueSubscribeTimeout(&sub, nc, "as.t", "q", 0, on_msg, st),
                 NATS_INVALID_ARG, "QueueSubscribeTimeout(timeout 0)");
    CHECK(sub == NULL, "no subscription created for a bad timeout");
}

/* Closed and disconnected callbacks. */
typedef struct {
    harness_counter closed;
    harness_counter disconnected;
    natsConnection *want_nc;
    int             wrong_nc;
} conn_events;

static void
on_closed(natsConnection *nc, void *closure)
{
    conn_events *ev = (conn_events *) closure;
    pthread_mutex_lock(&ev->closed.mu);
    if (ev->want_nc != NULL && nc != ev->want_nc)
        ev->wrong_nc++;
    pthread_mutex_unlock(&ev->closed.mu);
    counter_add(&ev->closed, 1);
}

static void
on_disconnected(natsConnection *nc, void *closure)
{
    conn_events *ev = (conn_events *) closure;
    (void) nc;
    counter_add(&ev->disconnected, 1);
}

static void
closed_callback(void)
{
    static conn_events ev; /* static: the callback thread may outlive this frame */
    natsOptions    *opts = NULL;
    natsConnection *nc   = NULL;
    natsStatus      s;

    memset(&ev, 0, sizeof(ev));
    counter_init(&ev.closed);
    counter_init(&ev.disconnected);

    s = natsOptions_Create(&opts);
    if (s == NATS_OK) s = natsOptions_SetURL(opts, test_url());
    if (s == NATS_OK) s = natsOptions_SetClosedCB(opts, on_closed, &ev);
    if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(opts, on_disconnected, &ev);
    if (s == NATS_OK) {
        pthread_mutex_lock(&ev.closed.mu);
        s = natsConnection_Connect(&nc, opts);
        ev.want_nc = nc;
        pthread_mutex_unlock(&ev.closed.mu);
    }
    if (CHECK_STATUS(s, NATS_OK, "connect with closed/disconnected callbacks")) {
        CHECK(counter_get(&ev.closed) == 0, "closed callback not called while connected");
        natsConnection_Close(nc);
        CHECK(counter_wait(&ev.closed, 1, WAIT_MS), "closed callback fires after Close");
        CHECK(counter_wait(&ev.disconnected, 1, WAIT_MS),
              "disconnected callback fires on Close");
        pthread_mutex_lock(&ev.closed.mu);
        CHECK(ev.wrong_nc == 0, "closed callback gets the connection");
        pthread_mutex_unlock(&ev.closed.mu);
    }
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
}

int
main(void)
{
    natsConnection *nc = NULL;
    natsStatus      s;

    s = natsConnection_ConnectTo(&nc, test_url());
    if (!CHECK_STATUS(s, NATS_OK, "natsConnection_ConnectTo(NATS_URL)") || nc == NULL) {
        HARNESS_END();
    }

    basic_async(nc);
    unsubscribe_in_callback(nc);
    queue_subscribe(nc);
    subscribe_timeout(nc, false);
    subscribe_timeout(nc, true);
    bad_timeouts(nc);

    natsConnection_Destroy(nc);

    closed_callback();

    nats_Close();
    HARNESS_END();
}
