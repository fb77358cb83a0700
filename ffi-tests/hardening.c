/* differential: no */
/*
 * hardening.c - places where libnats-rs deliberately differs from nats.c
 * 3.4.1 (see /work/shared/reference/natsc-defects.md, items 1, 2, 3, 12, and
 * two header round trips that break nats.c 3.4.1).
 *
 * nats.c crashes, misbehaves or writes protocol injection on most of these,
 * so tests/ffi_c.rs never runs this file against the system library (the
 * marker comment on the first line), only against ours.
 */
#include "harness.h"

/* A non-NULL pointer value that must be overwritten with NULL on failure. */
static double   sentinel_storage;
#define SENTINEL ((natsMsg *) (void *) &sentinel_storage)

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    (void) closure;
    natsMsg_Destroy(msg);
}

/* Item 2: NULL out-pointers and required arguments give NATS_INVALID_ARG. */
static void
null_out_pointers(void)
{
    CHECK_STATUS(natsOptions_Create(NULL), NATS_INVALID_ARG, "natsOptions_Create(NULL)");
    CHECK_STATUS(natsMsg_Create(NULL, "foo", NULL, "x", 1), NATS_INVALID_ARG,
                 "natsMsg_Create(NULL, ...)");
    CHECK_STATUS(natsInbox_Create(NULL), NATS_INVALID_ARG, "natsInbox_Create(NULL)");
    CHECK_STATUS(natsStatistics_Create(NULL), NATS_INVALID_ARG, "natsStatistics_Create(NULL)");
}

/* Item 3: a NULL connection out-pointer fails before any I/O. The URL points
 * at a port where nothing listens: if the library tried to connect first it
 * would report NATS_NO_SERVER instead. */
static void
null_connection_out_pointer(void)
{
    natsOptions *opts = NULL;

    CHECK_STATUS(natsConnection_ConnectTo(NULL, test_url()), NATS_INVALID_ARG,
                 "natsConnection_ConnectTo(NULL, url)");
    CHECK_STATUS(natsConnection_ConnectTo(NULL, test_dead_url()), NATS_INVALID_ARG,
                 "natsConnection_ConnectTo(NULL, dead url) fails before I/O");
    if (natsOptions_Create(&opts) == NATS_OK) {
        (void) natsOptions_SetURL(opts, test_url());
        CHECK_STATUS(natsConnection_Connect(NULL, opts), NATS_INVALID_ARG,
                     "natsConnection_Connect(NULL, opts)");
        natsOptions_Destroy(opts);
    }
}

static void
connection_null_args(natsConnection *nc)
{
    natsSubscription *sub = NULL;

    CHECK_STATUS(natsConnection_PublishMsg(nc, NULL), NATS_INVALID_ARG,
                 "natsConnection_PublishMsg(nc, NULL)");
    CHECK_STATUS(natsConnection_Publish(nc, "hard.x", NULL, 5), NATS_INVALID_ARG,
                 "Publish(NULL data, length 5)");
    CHECK_STATUS(natsConnection_SubscribeSync(NULL, nc, "hard.x"), NATS_INVALID_ARG,
                 "SubscribeSync(NULL sub out-pointer)");
    CHECK_STATUS(natsConnection_Subscribe(NULL, nc, "hard.x", on_msg, NULL), NATS_INVALID_ARG,
                 "Subscribe(NULL sub out-pointer)");
    if (natsConnection_SubscribeSync(&sub, nc, "hard.x") == NATS_OK) {
        CHECK_STATUS(natsSubscription_NextMsg(NULL, sub, 10), NATS_INVALID_ARG,
                     "NextMsg(NULL msg out-pointer)");
        natsSubscription_Destroy(sub);
    }
}

/* Item 1: no protocol injection through subjects or reply subjects. */
static void
no_injection(natsConnection *nc)
{
    natsSubscription *spy = NULL;
    natsMsg          *msg = NULL;
    natsMsg          *out = NULL;
    natsStatus        s;

    /* Everything published below, if it reached the wire as "PUB hard.a
     * hard.b ...", would show up on this subscription. */
    if (!CHECK_STATUS(natsConnection_SubscribeSync(&spy, nc, "hard.>"), NATS_OK,
                      "spy subscription on hard.>"))
        return;

    CHECK_STATUS(natsConnection_PublishString(nc, "foo bar", "x"), NATS_INVALID_SUBJECT,
                 "PublishString subject \"foo bar\"");
    CHECK_STATUS(natsConnection_PublishString(nc, "hard.a hard.b", "x"), NATS_INVALID_SUBJECT,
                 "PublishString subject \"hard.a hard.b\"");
    CHECK_STATUS(natsConnection_Publish(nc, "hard.a\thard.b", "x", 1), NATS_INVALID_SUBJECT,
                 "Publish subject with a tab");
    CHECK_STATUS(natsConnection_Publish(nc, "hard.a\r\nPUB hard.b 1", "x", 1),
                 NATS_INVALID_SUBJECT, "Publish subject with CR LF");
    CHECK_STATUS(natsConnection_PublishRequestString(nc, "hard.a hard.b", "hard.r", "x"),
                 NATS_INVALID_SUBJECT, "PublishRequestString subject with a space");
    CHECK_STATUS(natsConnection_PublishRequestString(nc, "hard.a", "a b", "x"), NATS_INVALID_ARG,
                 "PublishRequestString reply \"a b\"");
    CHECK_STATUS(natsConnection_PublishRequest(nc, "hard.a", "hard.r\r\n", "x", 1),
                 NATS_INVALID_ARG, "PublishRequest reply with CR LF");
    msg = SENTINEL;
    CHECK_STATUS(natsConnection_RequestString(&msg, nc, "hard.a hard.b", "x", 200),
                 NATS_INVALID_SUBJECT, "RequestString subject with a space");
    CHECK(msg == NULL, "RequestString failure sets *reply = NULL");

    /* PublishMsg: either natsMsg_Create refuses the subject, or PublishMsg does. */
    s = natsMsg_Create(&out, "hard.a hard.b", NULL, "x", 1);
    if (s == NATS_OK) {
        s = natsConnection_PublishMsg(nc, out);
        CHECK_STATUS(s, NATS_INVALID_SUBJECT, "PublishMsg with subject \"hard.a hard.b\"");
        natsMsg_Destroy(out);
    } else {
        CHECK(s == NATS_INVALID_SUBJECT || s == NATS_INVALID_ARG,
              "natsMsg_Create refuses subject \"hard.a hard.b\"");
    }
    out = NULL;
    s = natsMsg_Create(&out, "hard.a", "a b", "x", 1);
    if (s == NATS_OK) {
        CHECK_STATUS(natsConnection_PublishMsg(nc, out), NATS_INVALID_ARG,
                     "PublishMsg with reply \"a b\"");
        natsMsg_Destroy(out);
    } else {
        CHECK_STATUS(s, NATS_INVALID_ARG, "natsMsg_Create refuses reply \"a b\"");
    }

    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "flush after rejected publishes");
    msg = NULL;
    CHECK_STATUS(natsSubscription_NextMsg(&msg, spy, 200), NATS_TIMEOUT,
                 "nothing reached the server from rejected publishes");
    if (msg != NULL && msg != SENTINEL)
        natsMsg_Destroy(msg);
    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED,
          "connection still CONNECTED after rejected publishes");
    natsSubscription_Destroy(spy);
}

/* Item 12: every failing NextMsg / Request sets the out-pointer to NULL. */
static void
out_pointer_cleared(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *msg;

    if (!CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "hard.idle"), NATS_OK,
                      "SubscribeSync hard.idle"))
        return;
    msg = SENTINEL;
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 50), NATS_TIMEOUT, "NextMsg times out");
    CHECK(msg == NULL, "NextMsg timeout sets *msg = NULL");

    CHECK_STATUS(natsSubscription_Unsubscribe(sub), NATS_OK, "Unsubscribe hard.idle");
    msg = SENTINEL;
    CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 50), NATS_INVALID_SUBSCRIPTION,
                 "NextMsg on an unsubscribed subscription");
    CHECK(msg == NULL, "NextMsg NATS_INVALID_SUBSCRIPTION sets *msg = NULL");
    natsSubscription_Destroy(sub);

    msg = SENTINEL;
    CHECK_STATUS(natsSubscription_NextMsg(&msg, NULL, 50), NATS_INVALID_ARG,
                 "NextMsg on a NULL subscription");
    CHECK(msg == NULL, "NextMsg NATS_INVALID_ARG sets *msg = NULL");

    msg = SENTINEL;
    CHECK_STATUS(natsConnection_RequestString(&msg, nc, "hard.nobody", "x", 1000),
                 NATS_NO_RESPONDERS, "Request with no responder");
    CHECK(msg == NULL, "Request NATS_NO_RESPONDERS sets *reply = NULL");
}

/* Header values that nats.c 3.4.1 cannot round-trip. */
static void
header_round_trips(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *out = NULL;
    natsMsg          *in  = NULL;
    const char       *v;
    natsStatus        s;

    s = natsConnection_SubscribeSync(&sub, nc, "hard.hdr");
    if (s == NATS_OK) s = natsMsg_Create(&out, "hard.hdr", NULL, "body", 4);
    if (s == NATS_OK) s = natsMsgHeader_Set(out, "Null", NULL);
    if (s == NATS_OK) s = natsMsgHeader_Set(out, "Empty", "");
    if (s == NATS_OK) s = natsMsgHeader_Set(out, "After", "kept");
    if (s == NATS_OK) s = natsMsgHeader_Set(out, "Blank", " ");
    if (!CHECK_STATUS(s, NATS_OK, "build a message with NULL and empty header values")) {
        natsMsg_Destroy(out);
        natsSubscription_Destroy(sub);
        return;
    }
    CHECK_STATUS(natsConnection_PublishMsg(nc, out), NATS_OK,
                 "PublishMsg with a NULL header value");
    s = natsSubscription_NextMsg(&in, sub, 5000);
    if (CHECK_STATUS(s, NATS_OK, "receive the message") && in != NULL) {
        v = NULL;
        CHECK(natsMsgHeader_Get(in, "Null", &v) == NATS_OK && v != NULL && v[0] == '\0',
              "NULL header value arrives as \"\"");
        v = NULL;
        CHECK(natsMsgHeader_Get(in, "Empty", &v) == NATS_OK && v != NULL && v[0] == '\0',
              "empty header value arrives as \"\"");
        v = NULL;
        CHECK(natsMsgHeader_Get(in, "Blank", &v) == NATS_OK && v != NULL && v[0] == '\0',
              "whitespace header value arrives as \"\"");
        v = NULL;
        CHECK(natsMsgHeader_Get(in, "After", &v) == NATS_OK && v != NULL
                  && strcmp(v, "kept") == 0,
              "header after an empty value is intact");
        CHECK(natsMsg_GetDataLength(in) == 4 && strcmp(natsMsg_GetData(in), "body") == 0,
              "payload intact");
        natsMsg_Destroy(in);
    }
    natsMsg_Destroy(out);
    natsSubscription_Destroy(sub);
}

/* Defect 11: no flusher delay here; the newer setter is accepted and validated. */
static void
flusher_wait(void)
{
    natsOptions *o = NULL;

    CHECK_STATUS(natsOptions_SetFlusherWaitMicros(NULL, 0), NATS_INVALID_ARG,
                 "SetFlusherWaitMicros(NULL)");
    if (CHECK_STATUS(natsOptions_Create(&o), NATS_OK, "options for SetFlusherWaitMicros")) {
        CHECK_STATUS(natsOptions_SetFlusherWaitMicros(o, -1), NATS_INVALID_ARG,
                     "SetFlusherWaitMicros(-1)");
        CHECK_STATUS(natsOptions_SetFlusherWaitMicros(o, 0), NATS_OK, "SetFlusherWaitMicros(0)");
        CHECK_STATUS(natsOptions_SetFlusherWaitMicros(o, 1000), NATS_OK,
                     "SetFlusherWaitMicros(1000)");
        natsOptions_Destroy(o);
    }
}

int
main(void)
{
    natsConnection *nc = NULL;
    natsStatus      s;

    null_out_pointers();
    flusher_wait();
    null_connection_out_pointer();

    s = natsConnection_ConnectTo(&nc, test_url());
    if (CHECK_STATUS(s, NATS_OK, "natsConnection_ConnectTo(NATS_URL)")) {
        connection_null_args(nc);
        no_injection(nc);
        out_pointer_cleared(nc);
        header_round_trips(nc);
    }
    natsConnection_Destroy(nc);
    nats_Close();
    HARNESS_END();
}
