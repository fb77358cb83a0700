/*
 * subscriber.c - receives messages with an asynchronous subscription and
 * exits after a number of messages or a timeout, whichever comes first.
 *
 * Usage: subscriber [url] [subject] [count] [timeout-ms]
 *   url         server URL (default: $NATS_URL, else NATS_DEFAULT_URL)
 *   subject     default "foo"
 *   count       messages to wait for, default 10
 *   timeout-ms  give up after this long, default 10000
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <nats/nats.h>

static pthread_mutex_t mu   = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  cond = PTHREAD_COND_INITIALIZER;
static int             received = 0;

/* Runs on the subscription's delivery thread. The callback owns `msg`. */
static void
onMsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void) nc;
    (void) sub;
    (void) closure;

    printf("Received msg: %s - %.*s\n", natsMsg_GetSubject(msg),
           natsMsg_GetDataLength(msg), natsMsg_GetData(msg));
    fflush(stdout);
    natsMsg_Destroy(msg);

    pthread_mutex_lock(&mu);
    received++;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mu);
}

int
main(int argc, char **argv)
{
    natsConnection   *conn    = NULL;
    natsSubscription *sub     = NULL;
    const char       *url     = NATS_DEFAULT_URL;
    const char       *subject = "foo";
    int               count   = 10;
    int64_t           timeout = 10000;
    int64_t           deadline;
    int               got;
    natsStatus        s;

    if (argc > 1)
        url = argv[1];
    else if ((getenv("NATS_URL") != NULL) && (getenv("NATS_URL")[0] != '\0'))
        url = getenv("NATS_URL");
    if (argc > 2)
        subject = argv[2];
    if (argc > 3)
        count = atoi(argv[3]);
    if (argc > 4)
        timeout = atoll(argv[4]);

    s = natsConnection_ConnectTo(&conn, url);
    if (s == NATS_OK)
        s = natsConnection_Subscribe(&sub, conn, subject, onMsg, NULL);
    /* The subscription is registered on the server once Flush returns. */
    if (s == NATS_OK)
        s = natsConnection_Flush(conn);

    if (s == NATS_OK) {
        printf("Listening on '%s' for %d messages\n", subject, count);
        fflush(stdout);

        deadline = nats_Now() + timeout;
        pthread_mutex_lock(&mu);
        while (received < count) {
            struct timespec ts;
            int64_t         left = deadline - nats_Now();
            if (left <= 0)
                break;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += (time_t) (left / 1000);
            ts.tv_nsec += (long) ((left % 1000) * 1000000);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&cond, &mu, &ts);
        }
        got = received;
        pthread_mutex_unlock(&mu);

        if (got < count) {
            s = NATS_TIMEOUT;
            printf("Timed out after %d of %d messages\n", got, count);
        } else {
            printf("Received %d messages\n", got);
        }
    }
    if ((s != NATS_OK) && (s != NATS_TIMEOUT)) {
        printf("Error: %u - %s\n", s, natsStatus_GetText(s));
        nats_PrintLastErrorStack(stderr);
    }

    /* Destroy the subscription before its connection. */
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(conn);
    nats_Close();
    return (s == NATS_OK) ? 0 : 1;
}
