/*
 * request_reply.c - natsConnection_Request / RequestString / RequestMsg
 * against an async replier, no-responders, request timeouts, and inboxes.
 */
#include "harness.h"

static void
requests(natsConnection *nc)
{
    natsMsg   *reply = NULL;
    natsMsg   *req   = NULL;
    natsStatus s;
    int        i, good = 0;

    s = natsConnection_Request(&reply, nc, "rr.service", "abc", 3, 5000);
    CHECK_STATUS(s, NATS_OK, "Request");
    CHECK(reply_is(reply, "re:abc"), "Request returns the reply");
    CHECK(reply != NULL && strcmp(natsMsg_GetSubject(reply), "rr.service") != 0,
          "reply arrives on the inbox, not the request subject");
    natsMsg_Destroy(reply);
    reply = NULL;

    s = natsConnection_RequestString(&reply, nc, "rr.service", "hello", 5000);
    CHECK_STATUS(s, NATS_OK, "RequestString");
    CHECK(reply_is(reply, "re:hello"), "RequestString returns the reply");
    natsMsg_Destroy(reply);
    reply = NULL;

    s = natsMsg_Create(&req, "rr.service", NULL, "msg", 3);
    CHECK_STATUS(s, NATS_OK, "natsMsg_Create request");
    if (s == NATS_OK) {
        s = natsConnection_RequestMsg(&reply, nc, req, 5000);
        CHECK_STATUS(s, NATS_OK, "RequestMsg");
        CHECK(reply_is(reply, "re:msg"), "RequestMsg returns the reply");
        natsMsg_Destroy(reply);
        reply = NULL;
        natsMsg_Destroy(req);
    }

    s = natsConnection_Request(&reply, nc, "rr.service", NULL, 0, 5000);
    CHECK_STATUS(s, NATS_OK, "Request with an empty body");
    CHECK(reply_is(reply, "re:"), "Request with an empty body returns the reply");
    natsMsg_Destroy(reply);
    reply = NULL;

    for (i = 0; i < 20; i++) {
        char data[32], want[40];
        snprintf(data, sizeof(data), "n%d", i);
        snprintf(want, sizeof(want), "re:n%d", i);
        s = natsConnection_RequestString(&reply, nc, "rr.service", data, 5000);
        if (s == NATS_OK && reply_is(reply, want))
            good++;
        natsMsg_Destroy(reply);
        reply = NULL;
    }
    CHECK(good == 20, "20 requests in a row each get their own reply");
}

static void
no_responders_and_timeouts(natsConnection *nc, natsConnection *other)
{
    natsMsg          *reply = NULL;
    natsSubscription *silent = NULL;
    natsStatus        s;

    s = natsConnection_RequestString(&reply, nc, "rr.nobody.home", "x", 5000);
    CHECK_STATUS(s, NATS_NO_RESPONDERS, "Request with no responder");
    CHECK(reply == NULL, "no reply message on NATS_NO_RESPONDERS");

    s = natsConnection_SubscribeSync(&silent, other, "rr.silent");
    if (s == NATS_OK) s = natsConnection_Flush(other);
    if (!CHECK_STATUS(s, NATS_OK, "subscribe a non-replying subscriber"))
        return;
    reply = NULL;
    s = natsConnection_RequestString(&reply, nc, "rr.silent", "x", 250);
    CHECK_STATUS(s, NATS_TIMEOUT, "Request to a subscriber that never replies");
    CHECK(reply == NULL, "no reply message on NATS_TIMEOUT");

    /* The request did reach the silent subscriber, with a reply subject. */
    {
        natsMsg *m = NULL;
        s = natsSubscription_NextMsg(&m, silent, 2000);
        CHECK_STATUS(s, NATS_OK, "silent subscriber got the request");
        CHECK(m != NULL && natsMsg_GetReply(m) != NULL
                  && strncmp(natsMsg_GetReply(m), "_INBOX.", 7) == 0,
              "request carries an _INBOX. reply subject");
        natsMsg_Destroy(m);
    }

    /* The connection is still healthy after a timeout. */
    reply = NULL;
    s = natsConnection_RequestString(&reply, nc, "rr.service", "after", 5000);
    CHECK_STATUS(s, NATS_OK, "Request after a timeout");
    CHECK(reply_is(reply, "re:after"), "Request after a timeout returns the reply");
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(silent);
}

static void
inboxes(natsConnection *nc)
{
    natsInbox        *a = NULL, *b = NULL;
    natsSubscription *sub = NULL;
    natsMsg          *reply = NULL;
    natsStatus        s;

    CHECK_STATUS(natsInbox_Create(&a), NATS_OK, "natsInbox_Create");
    CHECK_STATUS(natsInbox_Create(&b), NATS_OK, "natsInbox_Create again");
    CHECK(a != NULL && strncmp(a, "_INBOX.", 7) == 0 && strlen(a) > 7,
          "inbox starts with \"_INBOX.\"");
    CHECK(a != NULL && b != NULL && strcmp(a, b) != 0, "two inboxes differ");

    /* A hand-made request: subscribe to the inbox, PublishRequest, NextMsg. */
    if (a != NULL) {
        s = natsConnection_SubscribeSync(&sub, nc, a);
        if (s == NATS_OK) s = natsConnection_PublishRequestString(nc, "rr.service", a, "manual");
        if (s == NATS_OK) s = natsSubscription_NextMsg(&reply, sub, 5000);
        CHECK_STATUS(s, NATS_OK, "manual request through an inbox");
        CHECK(reply_is(reply, "re:manual"), "manual request gets the reply");
        CHECK(reply != NULL && strcmp(natsMsg_GetSubject(reply), a) == 0,
              "manual reply arrives on the inbox subject");
        natsMsg_Destroy(reply);
        natsSubscription_Destroy(sub);
    }
    natsInbox_Destroy(a);
    natsInbox_Destroy(b);
}

int
main(void)
{
    natsConnection   *nc = NULL, *srv = NULL;
    natsSubscription *service = NULL;
    natsMsg          *reply = NULL;
    natsStatus        s;

    s = natsConnection_ConnectTo(&nc, test_url());
    if (s == NATS_OK) s = natsConnection_ConnectTo(&srv, test_url());
    if (!CHECK_STATUS(s, NATS_OK, "connect requestor and replier")) {
        natsConnection_Destroy(nc);
        HARNESS_END();
    }
    s = natsConnection_Subscribe(&service, srv, "rr.service", on_request, NULL);
    if (s == NATS_OK) s = natsConnection_Flush(srv);
    CHECK_STATUS(s, NATS_OK, "replier subscribed");

    if (s == NATS_OK) {
        requests(nc);
        no_responders_and_timeouts(nc, srv);
        inboxes(nc);
    }

    natsConnection_Close(nc);
    s = natsConnection_RequestString(&reply, nc, "rr.service", "x", 1000);
    CHECK_STATUS(s, NATS_CONNECTION_CLOSED, "Request on a closed connection");
    CHECK(reply == NULL, "no reply on a closed connection");

    natsSubscription_Destroy(service);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(srv);
    nats_Close();
    HARNESS_END();
}
