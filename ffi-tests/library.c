/*
 * library.c - library open/close, clock helpers and the thread-local
 * last-error API (nats_GetLastError, nats_GetLastErrorStack).
 * No server is needed.
 */
#include "harness.h"

typedef struct {
    natsStatus  status;
    const char *text;
    natsStatus  stackStatus;
} thread_result;

/* A fresh thread must see no error, whatever the creating thread did. */
static void *
fresh_thread(void *arg)
{
    thread_result *r = (thread_result *) arg;
    char           buf[256];

    r->status      = NATS_ERR; /* must be overwritten */
    r->text        = nats_GetLastError(&r->status);
    buf[0]         = '\0';
    r->stackStatus = nats_GetLastErrorStack(buf, sizeof(buf));
    return NULL;
}

/* An error raised in a second thread must not leak into the main thread. */
static void *
failing_thread(void *arg)
{
    natsOptions *opts = (natsOptions *) arg;
    (void) natsOptions_SetMaxPendingMsgs(opts, 0); /* NATS_INVALID_ARG */
    return NULL;
}

static void *
close_and_wait_thread(void *arg)
{
    *(natsStatus *) arg = nats_CloseAndWait(0);
    return NULL;
}

int
main(void)
{
    natsStatus   s;
    natsStatus   st;
    natsOptions *opts = NULL;
    const char  *txt;
    char         tiny[4];
    char         big[4096];
    int64_t      t0, t1, n0, n1;

    /* On another thread: the last error is per thread, and this one must
     * start clean. */
    {
        pthread_t  t;
        natsStatus st0 = NATS_OK;
        if (CHECK(pthread_create(&t, NULL, close_and_wait_thread, &st0) == 0,
                  "start a thread")) {
            pthread_join(t, NULL);
            CHECK_STATUS(st0, NATS_NOT_INITIALIZED,
                         "nats_CloseAndWait before the library was opened");
        }
    }
    CHECK_STATUS(nats_Open(-1), NATS_OK, "nats_Open(-1)");
    CHECK_STATUS(nats_Open(-1), NATS_OK, "nats_Open(-1) twice is OK");

    /* Clocks */
    t0 = nats_Now();
    n0 = nats_NowInNanoSeconds();
    CHECK(t0 > 0, "nats_Now() > 0");
    CHECK(n0 > 0, "nats_NowInNanoSeconds() > 0");
    nats_Sleep(50);
    t1 = nats_Now();
    n1 = nats_NowInNanoSeconds();
    CHECK(t1 - t0 >= 45 && t1 - t0 < 5000, "nats_Sleep(50) sleeps about 50 ms (nats_Now)");
    CHECK(n1 - n0 >= 45 * 1000000LL, "nats_NowInNanoSeconds advances in nanoseconds");
    CHECK(n1 / 1000000LL - t1 < 1000 && t1 - n1 / 1000000LL < 1000,
          "nats_Now and nats_NowInNanoSeconds share the epoch");

    /* Last error: a clean main thread first. */
    st  = NATS_ERR;
    txt = nats_GetLastError(&st);
    CHECK(txt == NULL, "no last error at start");
    CHECK_STATUS(st, NATS_OK, "no last error status at start");

    CHECK_STATUS(natsOptions_Create(&opts), NATS_OK, "natsOptions_Create");
    if (opts == NULL) {
        HARNESS_END();
    }

    s = natsOptions_SetTimeout(opts, -1);
    CHECK_STATUS(s, NATS_INVALID_ARG, "natsOptions_SetTimeout(-1) is NATS_INVALID_ARG");

    st  = NATS_OK;
    txt = nats_GetLastError(&st);
    CHECK(txt != NULL && txt[0] != '\0', "nats_GetLastError returns a text");
    CHECK_STATUS(st, NATS_INVALID_ARG, "nats_GetLastError returns the status");
    txt = nats_GetLastError(NULL);
    CHECK(txt != NULL && txt[0] != '\0', "nats_GetLastError(NULL) still returns the text");

    /* The error stack. */
    memset(tiny, 'x', sizeof(tiny));
    CHECK_STATUS(nats_GetLastErrorStack(tiny, sizeof(tiny)), NATS_INSUFFICIENT_BUFFER,
                 "nats_GetLastErrorStack(tiny buffer)");
    memset(big, 0, sizeof(big));
    CHECK_STATUS(nats_GetLastErrorStack(big, sizeof(big)), NATS_OK,
                 "nats_GetLastErrorStack(big buffer)");
    CHECK(strstr(big, "natsOptions_SetTimeout") != NULL,
          "error stack names natsOptions_SetTimeout");
    CHECK(memchr(big, '\0', sizeof(big)) != NULL, "error stack is NUL-terminated");
    CHECK_STATUS(nats_GetLastErrorStack(NULL, 0), NATS_INVALID_ARG,
                 "nats_GetLastErrorStack(NULL, 0)");
    CHECK_STATUS(nats_GetLastErrorStack(big, 0), NATS_INVALID_ARG,
                 "nats_GetLastErrorStack(buf, 0)");
    CHECK_STATUS(nats_GetLastErrorStack(NULL, 10), NATS_INVALID_ARG,
                 "nats_GetLastErrorStack(NULL, 10)");

    /* The error survives later successful calls (it is not cleared by them). */
    CHECK_STATUS(natsOptions_SetTimeout(opts, 1000), NATS_OK, "natsOptions_SetTimeout(1000)");
    CHECK_STATUS(natsOptions_SetName(opts, "lib-test"), NATS_OK, "natsOptions_SetName");
    st  = NATS_OK;
    txt = nats_GetLastError(&st);
    CHECK(txt != NULL, "last error survives successful calls");
    CHECK_STATUS(st, NATS_INVALID_ARG, "last error status survives successful calls");
    memset(big, 0, sizeof(big));
    CHECK_STATUS(nats_GetLastErrorStack(big, sizeof(big)), NATS_OK,
                 "nats_GetLastErrorStack after successful calls");
    CHECK(strstr(big, "natsOptions_SetTimeout") != NULL,
          "error stack still names natsOptions_SetTimeout");

    /* A new thread starts with no error. */
    {
        pthread_t     th;
        thread_result r;
        memset(&r, 0, sizeof(r));
        CHECK(pthread_create(&th, NULL, fresh_thread, &r) == 0, "pthread_create");
        pthread_join(th, NULL);
        CHECK(r.text == NULL, "new thread: nats_GetLastError is NULL");
        CHECK_STATUS(r.status, NATS_OK, "new thread: last error status is NATS_OK");
    }

    /* An error in another thread does not replace this thread's error. */
    {
        pthread_t th;
        CHECK(pthread_create(&th, NULL, failing_thread, opts) == 0, "pthread_create (2)");
        pthread_join(th, NULL);
        st  = NATS_OK;
        txt = nats_GetLastError(&st);
        CHECK_STATUS(st, NATS_INVALID_ARG, "other thread's error does not leak here");
        memset(big, 0, sizeof(big));
        (void) nats_GetLastErrorStack(big, sizeof(big));
        CHECK(strstr(big, "natsOptions_SetTimeout") != NULL
                  && strstr(big, "natsOptions_SetMaxPendingMsgs") == NULL,
              "this thread's stack is unchanged by another thread");
    }

    /* A new failure replaces the previous one. */
    CHECK_STATUS(natsOptions_SetMaxPendingMsgs(opts, -5), NATS_INVALID_ARG,
                 "natsOptions_SetMaxPendingMsgs(-5)");
    memset(big, 0, sizeof(big));
    CHECK_STATUS(nats_GetLastErrorStack(big, sizeof(big)), NATS_OK,
                 "nats_GetLastErrorStack after a new failure");
    CHECK(strstr(big, "natsOptions_SetMaxPendingMsgs") != NULL,
          "error stack names the newest failing function");

    fprintf(stderr, "last error stack (informational):\n");
    nats_PrintLastErrorStack(stderr);

    natsOptions_Destroy(opts);
    CHECK_STATUS(nats_CloseAndWait(5000), NATS_OK, "nats_CloseAndWait with nothing left");
    CHECK_STATUS(nats_CloseAndWait(0), NATS_NOT_INITIALIZED,
                 "nats_CloseAndWait after the library was torn down");
    HARNESS_END();
}
