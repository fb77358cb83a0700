/*
 * replier.c - answers requests on a subject, then exits after a number of
 * requests or a timeout, whichever comes first.
 *
 * Usage: replier [url] [subject] [count] [timeout-ms]
 *   url         server URL (default: $NATS_URL, else NATS_DEFAULT_URL)
 *   subject     default "help"
 *   count       requests to answer, default 1
 *   timeout-ms  give up after this long, default 10000
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <nats/nats.h>

static pthread_mutex_t mu       = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  cond     = PTHREAD_COND_INITIALIZER;
static int             answered = 0;

/* Runs on the subscription's delivery thread. The callback owns `msg`. */
static void
onRequest(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    char        buf[256];
    const char *reply = natsMsg_GetReply(msg);
    natsStatus  s     = NATS_OK;

    (void) sub;
    (void) closure;

    if (reply != NULL) {
        snprintf(buf, sizeof(buf), "here's some help for '%.*s'", natsMsg_GetDataLength(msg),
                 natsMsg_GetData(msg));
        s = natsConnection_PublishString(nc, reply, buf);
        if (s != NATS_OK) {
            printf("Error: %u - %s\n", s, natsStatus_GetText(s));
            nats_PrintLastErrorStack(stderr);
        }
    }
    natsMsg_Destroy(msg);

    pthread_mutex_lock(&mu);
    answered++;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&mu);
}

int
main(int argc, char **argv)
{
    natsConnection   *conn    = NULL;
    natsSubscription *sub     = NULL;
    const char       *url     = NATS_DEFAULT_URL;
    const char       *subject = "help";
    int               count   = 1;
    int64_t           timeout = 10000;
    int64_t           deadline;
    int               done;
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
        s = natsConnection_Subscribe(&sub, conn, subject, onRequest, NULL);
    if (s == NATS_OK)
        s = natsConnection_Flush(conn);

    if (s == NATS_OK) {
        printf("Answering requests on '%s'\n", subject);
        fflush(stdout);

        deadline = nats_Now() + timeout;
        pthread_mutex_lock(&mu);
        while (answered < count) {
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
        done = answered;
        pthread_mutex_unlock(&mu);

        printf("Answered %d of %d requests\n", done, count);
        if (done < count)
            s = NATS_TIMEOUT;
    }
    if ((s != NATS_OK) && (s != NATS_TIMEOUT)) {
        printf("Error: %u - %s\n", s, natsStatus_GetText(s));
        nats_PrintLastErrorStack(stderr);
    }

    /* Let the last reply reach the server, then clean up. */
    if (conn != NULL)
        (void) natsConnection_FlushTimeout(conn, 1000);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(conn);
    nats_Close();
    return (s == NATS_OK) ? 0 : 1;
}
