/*
 * bad_input.c - invalid arguments that nats.c 3.4.1 ALSO rejects without
 * crashing, so this file runs differentially: NULL connections, invalid
 * subjects and queue names, NULL callbacks, oversized payloads.
 *
 * Inputs that crash nats.c 3.4.1 (NULL out-pointers, a NULL payload with a
 * non-zero length, ...) are in hardening.c, which runs only against ours.
 * Subjects that nats.c 3.4.1 accepts on publish although they are malformed
 * ("foo..bar", "foo bar") are not checked here either.
 */
#include "harness.h"

static void
on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    (void) closure;
    natsMsg_Destroy(msg);
}

static void
null_connection(void)
{
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    char              buf[64];

#define EXPECT(call, want) CHECK_STATUS(call, want, #call)
    EXPECT(natsConnection_Publish(NULL, "foo", "x", 1), NATS_INVALID_ARG);
    EXPECT(natsConnection_PublishString(NULL, "foo", "x"), NATS_INVALID_ARG);
    EXPECT(natsConnection_PublishRequest(NULL, "foo", "bar", "x", 1), NATS_INVALID_ARG);
    EXPECT(natsConnection_PublishRequestString(NULL, "foo", "bar", "x"), NATS_INVALID_ARG);
    EXPECT(natsConnection_Flush(NULL), NATS_INVALID_ARG);
    EXPECT(natsConnection_FlushTimeout(NULL, 1000), NATS_INVALID_ARG);
    EXPECT(natsConnection_Subscribe(&sub, NULL, "foo", on_msg, NULL), NATS_INVALID_ARG);
    EXPECT(natsConnection_SubscribeSync(&sub, NULL, "foo"), NATS_INVALID_ARG);
    EXPECT(natsConnection_QueueSubscribe(&sub, NULL, "foo", "q", on_msg, NULL),
           NATS_INVALID_ARG);
    EXPECT(natsConnection_QueueSubscribeSync(&sub, NULL, "foo", "q"), NATS_INVALID_ARG);
    EXPECT(natsConnection_RequestString(&msg, NULL, "foo", "x", 100), NATS_INVALID_ARG);
    EXPECT(natsConnection_GetConnectedUrl(NULL, buf, sizeof(buf)), NATS_INVALID_ARG);
    EXPECT(natsConnection_GetConnectedServerId(NULL, buf, sizeof(buf)), NATS_INVALID_ARG);
#undef EXPECT
    CHECK(sub == NULL, "no subscription created on a NULL connection");
    CHECK(msg == NULL, "no reply created on a NULL connection");

    CHECK(natsConnection_IsClosed(NULL), "natsConnection_IsClosed(NULL) is true");
    CHECK(natsConnection_Status(NULL) == NATS_CONN_STATUS_CLOSED,
          "natsConnection_Status(NULL) is CLOSED");
    CHECK(natsConnection_GetMaxPayload(NULL) == 0, "natsConnection_GetMaxPayload(NULL) is 0");

    /* Destroy/Close functions accept NULL. */
    natsConnection_Close(NULL);
    natsConnection_Destroy(NULL);
    natsSubscription_Destroy(NULL);
    natsMsg_Destroy(NULL);
    CHECK(true, "Close/Destroy functions accept NULL");
}

static void
null_subscription(void)
{
    natsMsg *msg = NULL;

    CHECK_STATUS(natsSubscription_NextMsg(&msg, NULL, 100), NATS_INVALID_ARG,
                 "natsSubscription_NextMsg(NULL sub)");
    CHECK_STATUS(natsSubscription_Unsubscribe(NULL), NATS_INVALID_ARG,
                 "natsSubscription_Unsubscribe(NULL)");
    CHECK_STATUS(natsSubscription_AutoUnsubscribe(NULL, 1), NATS_INVALID_ARG,
                 "natsSubscription_AutoUnsubscribe(NULL, 1)");
    CHECK(!natsSubscription_IsValid(NULL), "natsSubscription_IsValid(NULL) is false");
}

static const char *const invalid_subjects[] = {
    "",        "foo..bar", "foo.",     ".foo",     ".",        "..",       "foo bar",
    " foo",    "foo ",     "foo\tbar", "foo\rbar", "foo\nbar", "foo.>.bar", ">.foo",
};

/* Wildcard characters inside a token are literal, not wildcards: valid. */
static const char *const valid_subjects[] = {
    "foo", "a.b.c", "*", ">", "foo.*", "foo.>", "*.bar", "foo.*.bar",
    "fo>o.bar", "foo*.bar", "foo.*bar", "f*o",
};

static void
subjects(natsConnection *nc)
{
    size_t i;

    for (i = 0; i < sizeof(invalid_subjects) / sizeof(invalid_subjects[0]); i++) {
        const char       *subj = invalid_subjects[i];
        natsSubscription *sub  = NULL;
        char              shown[64];
        size_t            j, k = 0;

        /* Show control characters as escapes in the check name. */
        for (j = 0; subj[j] != '\0' && k < sizeof(shown) - 3; j++) {
            if (subj[j] == '\t') { shown[k++] = '\\'; shown[k++] = 't'; }
            else if (subj[j] == '\r') { shown[k++] = '\\'; shown[k++] = 'r'; }
            else if (subj[j] == '\n') { shown[k++] = '\\'; shown[k++] = 'n'; }
            else shown[k++] = subj[j];
        }
        shown[k] = '\0';

        CHECK_STATUSF(natsConnection_SubscribeSync(&sub, nc, subj), NATS_INVALID_SUBJECT,
                      "SubscribeSync(\"%s\")", shown);
        CHECKF(sub == NULL, "SubscribeSync(\"%s\") leaves sub NULL", shown);
        natsSubscription_Destroy(sub);
        sub = NULL;
        CHECK_STATUSF(natsConnection_Subscribe(&sub, nc, subj, on_msg, NULL),
                      NATS_INVALID_SUBJECT, "Subscribe(\"%s\")", shown);
        natsSubscription_Destroy(sub);
        sub = NULL;
        CHECK_STATUSF(natsConnection_QueueSubscribeSync(&sub, nc, subj, "q"),
                      NATS_INVALID_SUBJECT, "QueueSubscribeSync(\"%s\")", shown);
        natsSubscription_Destroy(sub);
    }

    for (i = 0; i < sizeof(valid_subjects) / sizeof(valid_subjects[0]); i++) {
        natsSubscription *sub = NULL;
        CHECK_STATUSF(natsConnection_SubscribeSync(&sub, nc, valid_subjects[i]), NATS_OK,
                      "SubscribeSync(\"%s\") is valid", valid_subjects[i]);
        natsSubscription_Destroy(sub);
    }

    /* NULL subjects */
    {
        natsSubscription *sub = NULL;
        natsMsg          *msg = NULL;
#define EXPECT(call, want) CHECK_STATUS(call, want, #call)
        EXPECT(natsConnection_SubscribeSync(&sub, nc, NULL), NATS_INVALID_SUBJECT);
        EXPECT(natsConnection_Subscribe(&sub, nc, NULL, on_msg, NULL), NATS_INVALID_SUBJECT);
        EXPECT(natsConnection_Publish(nc, NULL, "x", 1), NATS_INVALID_SUBJECT);
        EXPECT(natsConnection_PublishString(nc, NULL, "x"), NATS_INVALID_SUBJECT);
        EXPECT(natsConnection_Publish(nc, "", "x", 1), NATS_INVALID_SUBJECT);
        EXPECT(natsConnection_PublishString(nc, "", "x"), NATS_INVALID_SUBJECT);
        EXPECT(natsConnection_PublishRequestString(nc, "", "reply", "x"), NATS_INVALID_SUBJECT);
        EXPECT(natsConnection_RequestString(&msg, nc, "", "x", 100), NATS_INVALID_SUBJECT);
        EXPECT(natsConnection_RequestString(&msg, nc, NULL, "x", 100), NATS_INVALID_SUBJECT);
        /* Empty or NULL reply subjects */
        EXPECT(natsConnection_PublishRequest(nc, "foo", "", "x", 1), NATS_INVALID_ARG);
        EXPECT(natsConnection_PublishRequest(nc, "foo", NULL, "x", 1), NATS_INVALID_ARG);
        EXPECT(natsConnection_PublishRequestString(nc, "foo", "", "x"), NATS_INVALID_ARG);
        EXPECT(natsConnection_PublishRequestString(nc, "foo", NULL, "x"), NATS_INVALID_ARG);
#undef EXPECT
        CHECK(sub == NULL && msg == NULL, "nothing created for NULL subjects");
    }
}

static void
callbacks_and_queues(natsConnection *nc)
{
    static const char *const bad_queues[] = {"bad queue", "bad\tqueue", "q\r", "q\n", " q", "q "};
    natsSubscription        *sub = NULL;
    size_t                   i;

    CHECK_STATUS(natsConnection_Subscribe(&sub, nc, "foo", NULL, NULL), NATS_INVALID_ARG,
                 "Subscribe with a NULL callback");
    CHECK_STATUS(natsConnection_QueueSubscribe(&sub, nc, "foo", "q", NULL, NULL),
                 NATS_INVALID_ARG, "QueueSubscribe with a NULL callback");
    CHECK_STATUS(natsConnection_SubscribeTimeout(&sub, nc, "foo", 100, NULL, NULL),
                 NATS_INVALID_ARG, "SubscribeTimeout with a NULL callback");
    CHECK(sub == NULL, "no subscription created with a NULL callback");

    for (i = 0; i < sizeof(bad_queues) / sizeof(bad_queues[0]); i++) {
        sub = NULL;
        CHECK_STATUSF(natsConnection_QueueSubscribeSync(&sub, nc, "foo", bad_queues[i]),
                      NATS_INVALID_QUEUE_NAME, "QueueSubscribeSync bad queue name #%d", (int) i);
        CHECKF(sub == NULL, "bad queue name #%d leaves sub NULL", (int) i);
        natsSubscription_Destroy(sub);
        sub = NULL;
        CHECK_STATUSF(natsConnection_QueueSubscribe(&sub, nc, "foo", bad_queues[i], on_msg, NULL),
                      NATS_INVALID_QUEUE_NAME, "QueueSubscribe bad queue name #%d", (int) i);
        natsSubscription_Destroy(sub);
    }
    sub = NULL;
    CHECK_STATUS(natsConnection_QueueSubscribeSync(&sub, nc, "foo", ""), NATS_INVALID_ARG,
                 "QueueSubscribeSync with an empty queue name");
    CHECK_STATUS(natsConnection_QueueSubscribeSync(&sub, nc, "foo", NULL), NATS_INVALID_ARG,
                 "QueueSubscribeSync with a NULL queue name");
    CHECK_STATUS(natsConnection_QueueSubscribe(&sub, nc, "foo", "", on_msg, NULL),
                 NATS_INVALID_ARG, "QueueSubscribe with an empty queue name");
    CHECK_STATUS(natsConnection_QueueSubscribe(&sub, nc, "foo", NULL, on_msg, NULL),
                 NATS_INVALID_ARG, "QueueSubscribe with a NULL queue name");
    CHECK(sub == NULL, "no subscription created for empty queue names");

    /* Dots and wildcard characters are fine in queue names. */
    CHECK_STATUS(natsConnection_QueueSubscribeSync(&sub, nc, "foo", "q.a"), NATS_OK,
                 "QueueSubscribeSync queue name with a dot");
    natsSubscription_Destroy(sub);
}

static void
buffers_and_timeouts(natsConnection *nc)
{
    char              buf[8];
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;

    CHECK_STATUS(natsConnection_GetConnectedUrl(nc, NULL, 10), NATS_INVALID_ARG,
                 "GetConnectedUrl(NULL buffer)");
    CHECK_STATUS(natsConnection_GetConnectedUrl(nc, buf, 0), NATS_INSUFFICIENT_BUFFER,
                 "GetConnectedUrl(buffer size 0)");
    CHECK_STATUS(natsConnection_FlushTimeout(nc, 0), NATS_INVALID_TIMEOUT, "FlushTimeout(0)");

    if (CHECK_STATUS(natsConnection_SubscribeSync(&sub, nc, "bad.idle"), NATS_OK,
                     "SubscribeSync for timeouts")) {
        CHECK_STATUS(natsSubscription_NextMsg(&msg, sub, 0), NATS_TIMEOUT,
                     "NextMsg(timeout 0) with nothing pending");
        CHECK(msg == NULL, "NextMsg(timeout 0) returns no message");
        natsSubscription_Destroy(sub);
    }
}

static void
max_payload(natsConnection *nc)
{
    int64_t  maxp = natsConnection_GetMaxPayload(nc);
    char    *big;
    natsMsg *m = NULL;

    if (!CHECK(maxp > 0 && maxp < 64 * 1024 * 1024, "GetMaxPayload is sane"))
        return;
    big = (char *) calloc(1, (size_t) maxp + 2);
    if (!CHECK(big != NULL, "allocate max_payload + 1 bytes"))
        return;
    memset(big, 'p', (size_t) maxp + 1);

    CHECK_STATUS(natsConnection_Publish(nc, "bad.big", big, (int) maxp + 1), NATS_MAX_PAYLOAD,
                 "Publish max_payload + 1 bytes");
    CHECK_STATUS(natsConnection_Publish(nc, "bad.big", big, (int) maxp), NATS_OK,
                 "Publish exactly max_payload bytes");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "Flush after max_payload publishes");

    if (natsMsg_Create(&m, "bad.big", NULL, big, (int) maxp + 1) == NATS_OK) {
        CHECK_STATUS(natsConnection_PublishMsg(nc, m), NATS_MAX_PAYLOAD,
                     "PublishMsg max_payload + 1 bytes");
        natsMsg_Destroy(m);
        m = NULL;
    }
    /* Header bytes count toward max_payload. */
    if (natsMsg_Create(&m, "bad.big", NULL, big, (int) maxp - 2) == NATS_OK) {
        CHECK_STATUS(natsMsgHeader_Set(m, "Key", "value"), NATS_OK, "add a header");
        CHECK_STATUS(natsConnection_PublishMsg(nc, m), NATS_MAX_PAYLOAD,
                     "PublishMsg whose headers push it over max_payload");
        natsMsg_Destroy(m);
    }
    free(big);
}

/* After all of the above, the connection is still healthy. */
static void
still_healthy(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    natsStatus        s;

    CHECK(natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED,
          "connection still CONNECTED after bad input");
    s = natsConnection_SubscribeSync(&sub, nc, "bad.ok");
    if (s == NATS_OK) s = natsConnection_PublishString(nc, "bad.ok", "fine");
    if (s == NATS_OK) s = natsSubscription_NextMsg(&msg, sub, 5000);
    CHECK_STATUS(s, NATS_OK, "pub/sub still works after bad input");
    CHECK(msg != NULL && strcmp(natsMsg_GetData(msg), "fine") == 0, "message intact");
    natsMsg_Destroy(msg);
    natsSubscription_Destroy(sub);
}

int
main(void)
{
    natsConnection *nc = NULL;
    natsStatus      s;

    null_connection();
    null_subscription();

    s = natsConnection_ConnectTo(&nc, test_url());
    if (CHECK_STATUS(s, NATS_OK, "natsConnection_ConnectTo(NATS_URL)")) {
        subjects(nc);
        callbacks_and_queues(nc);
        buffers_and_timeouts(nc);
        max_payload(nc);
        still_healthy(nc);
    }
    natsConnection_Destroy(nc);
    nats_Close();
    HARNESS_END();
}
