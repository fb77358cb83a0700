/*
 * publisher.c - publishes a number of messages to a subject.
 *
 * Usage: publisher [url] [subject] [count]
 *   url      server URL (default: $NATS_URL, else NATS_DEFAULT_URL)
 *   subject  default "foo"
 *   count    number of messages, default 10
 *
 * Build: make (see Makefile). Works the same against nats.c and libnats-rs.
 */
#include <stdio.h>
#include <stdlib.h>

#include <nats/nats.h>

int
main(int argc, char **argv)
{
    natsConnection *conn    = NULL;
    const char     *url     = NATS_DEFAULT_URL;
    const char     *subject = "foo";
    int             count   = 10;
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
        snprintf(payload, sizeof(payload), "message %d", i + 1);
        s = natsConnection_PublishString(conn, subject, payload);
    }
    /* Make sure everything reached the server before exiting. */
    if (s == NATS_OK)
        s = natsConnection_FlushTimeout(conn, 5000);

    if (s == NATS_OK) {
        printf("Published %d messages on '%s'\n", count, subject);
    } else {
        printf("Error: %u - %s\n", s, natsStatus_GetText(s));
        nats_PrintLastErrorStack(stderr);
    }

    natsConnection_Destroy(conn);
    nats_Close();
    return (s == NATS_OK) ? 0 : 1;
}
