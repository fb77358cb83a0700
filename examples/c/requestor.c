/*
 * requestor.c - sends requests and prints the replies.
 *
 * Usage: requestor [url] [subject] [count]
 *   url      server URL (default: $NATS_URL, else NATS_DEFAULT_URL)
 *   subject  default "help"
 *   count    number of requests, default 1
 *
 * Start `replier` first, or the requests fail with NATS_NO_RESPONDERS.
 */
#include <stdio.h>
#include <stdlib.h>

#include <nats/nats.h>

int
main(int argc, char **argv)
{
    natsConnection *conn    = NULL;
    natsMsg        *reply   = NULL;
    const char     *url     = NATS_DEFAULT_URL;
    const char     *subject = "help";
    int             count   = 1;
    int             i;
    char            payload[64];
    natsStatus      s;

    if (argc > 1)
        url = argv[1];
    else if ((getenv("NATS_URL") != NULL) && (getenv("NATS_URL")[0] != '\0'))
        url = getenv("NATS_URL");
    if (argc > 2)
        subject = argv[2];
    if (argc > 3)
        count = atoi(argv[3]);

    s = natsConnection_ConnectTo(&conn, url);
    for (i = 0; (s == NATS_OK) && (i < count); i++) {
        snprintf(payload, sizeof(payload), "request %d", i + 1);
        /* Wait up to 2 seconds for the reply. */
        s = natsConnection_RequestString(&reply, conn, subject, payload, 2000);
        if (s == NATS_OK) {
            printf("Received reply: %.*s\n", natsMsg_GetDataLength(reply),
                   natsMsg_GetData(reply));
            /* The caller owns the reply. */
            natsMsg_Destroy(reply);
            reply = NULL;
        }
    }

    if (s != NATS_OK) {
        printf("Error: %u - %s\n", s, natsStatus_GetText(s));
        nats_PrintLastErrorStack(stderr);
    }

    natsConnection_Destroy(conn);
    nats_Close();
    return (s == NATS_OK) ? 0 : 1;
}
