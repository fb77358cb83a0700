/* Smoke test of an installed libnats-rs, built by tests/install.rs through
 * pkg-config and CMake. It needs no server: it only calls the parts of the
 * core API that work offline, and checks their results.
 *
 * Prints one line per failed check, then "N passed, M failed"; exits 0 only
 * when nothing failed. */
#include <nats/nats.h>

#include <stdio.h>
#include <string.h>

/* Built against libnats-rs's header, not nats.c's (which may also be on the
 * machine, in /usr/include). */
#ifndef NATS_LIBNATS_RS
#error "<nats/nats.h> is not libnats-rs's header"
#endif

static int passed;
static int failed;

#define CHECK(cond)                                                  \
    do                                                               \
    {                                                                \
        if (cond)                                                    \
            passed++;                                                \
        else                                                         \
        {                                                            \
            failed++;                                                \
            printf("FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        }                                                            \
    } while (0)

static int streq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

int main(void)
{
    natsOptions *opts  = NULL;
    natsInbox   *inbox = NULL;
    natsMsg     *msg   = NULL;
    natsMsg     *bad   = NULL;

    CHECK(nats_CheckCompatibility());
    CHECK(nats_Open(-1) == NATS_OK);

    /* The library that was loaded is the one whose header we compiled with. */
    CHECK(streq(nats_GetVersion(), NATS_VERSION_STRING));
    CHECK(nats_GetVersionNumber() == NATS_VERSION_NUMBER);
    CHECK(streq(NATS_VERSION_STRING, "3.14.0"));
    printf("library version %s\n", nats_GetVersion());

    CHECK(streq(natsStatus_GetText(NATS_OK), "OK"));
    CHECK(streq(natsStatus_GetText(NATS_INVALID_ARG), "Invalid Argument"));
    CHECK(streq(natsStatus_GetText(NATS_TIMEOUT), "Timeout"));

    CHECK(natsOptions_Create(&opts) == NATS_OK);
    CHECK(opts != NULL);
    CHECK(natsOptions_SetURL(opts, "nats://127.0.0.1:4222") == NATS_OK);
    CHECK(natsOptions_SetURL(NULL, "nats://127.0.0.1:4222") == NATS_INVALID_ARG);
    natsOptions_Destroy(opts);
    CHECK(natsOptions_Create(NULL) == NATS_INVALID_ARG);

    CHECK(natsInbox_Create(&inbox) == NATS_OK);
    CHECK(inbox != NULL && strncmp(inbox, "_INBOX.", 7) == 0);
    CHECK(inbox != NULL && strlen(inbox) > 7);
    natsInbox_Destroy(inbox);

    CHECK(natsMsg_Create(&msg, "greet.joe", "reply.to", "hello", 5) == NATS_OK);
    CHECK(streq(natsMsg_GetSubject(msg), "greet.joe"));
    CHECK(streq(natsMsg_GetReply(msg), "reply.to"));
    CHECK(natsMsg_GetDataLength(msg) == 5);
    CHECK(streq(natsMsg_GetData(msg), "hello"));
    natsMsg_Destroy(msg);

    CHECK(natsMsg_Create(&bad, NULL, NULL, "x", 1) == NATS_INVALID_ARG);
    CHECK(bad == NULL);

    nats_Close();

    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
