/*
 * abi_status.c - the ABI of the status enums and the exact status texts.
 *
 * Compile time: every natsStatus value of nats.c 3.4.1 (NATS_OK ..
 * NATS_MISSED_HEARTBEAT), every natsConnStatus value, the enum sizes and the
 * layout of the public natsMsgList struct.
 * Run time: natsStatus_GetText returns nats.c's exact English text for 0..36,
 * the version API agrees with itself, nats_CheckCompatibility() holds.
 * No server is needed.
 */
#include "harness.h"

#include <stddef.h>

/* natsStatus: the values are ABI (applications store and compare them). */
_Static_assert(NATS_OK == 0, "NATS_OK must be 0");
_Static_assert(NATS_ERR == 1, "NATS_ERR must be 1");
_Static_assert(NATS_PROTOCOL_ERROR == 2, "NATS_PROTOCOL_ERROR must be 2");
_Static_assert(NATS_IO_ERROR == 3, "NATS_IO_ERROR must be 3");
_Static_assert(NATS_LINE_TOO_LONG == 4, "NATS_LINE_TOO_LONG must be 4");
_Static_assert(NATS_CONNECTION_CLOSED == 5, "NATS_CONNECTION_CLOSED must be 5");
_Static_assert(NATS_NO_SERVER == 6, "NATS_NO_SERVER must be 6");
_Static_assert(NATS_STALE_CONNECTION == 7, "NATS_STALE_CONNECTION must be 7");
_Static_assert(NATS_SECURE_CONNECTION_WANTED == 8, "NATS_SECURE_CONNECTION_WANTED must be 8");
_Static_assert(NATS_SECURE_CONNECTION_REQUIRED == 9, "NATS_SECURE_CONNECTION_REQUIRED must be 9");
_Static_assert(NATS_CONNECTION_DISCONNECTED == 10, "NATS_CONNECTION_DISCONNECTED must be 10");
_Static_assert(NATS_CONNECTION_AUTH_FAILED == 11, "NATS_CONNECTION_AUTH_FAILED must be 11");
_Static_assert(NATS_NOT_PERMITTED == 12, "NATS_NOT_PERMITTED must be 12");
_Static_assert(NATS_NOT_FOUND == 13, "NATS_NOT_FOUND must be 13");
_Static_assert(NATS_ADDRESS_MISSING == 14, "NATS_ADDRESS_MISSING must be 14");
_Static_assert(NATS_INVALID_SUBJECT == 15, "NATS_INVALID_SUBJECT must be 15");
_Static_assert(NATS_INVALID_ARG == 16, "NATS_INVALID_ARG must be 16");
_Static_assert(NATS_INVALID_SUBSCRIPTION == 17, "NATS_INVALID_SUBSCRIPTION must be 17");
_Static_assert(NATS_INVALID_TIMEOUT == 18, "NATS_INVALID_TIMEOUT must be 18");
_Static_assert(NATS_ILLEGAL_STATE == 19, "NATS_ILLEGAL_STATE must be 19");
_Static_assert(NATS_SLOW_CONSUMER == 20, "NATS_SLOW_CONSUMER must be 20");
_Static_assert(NATS_MAX_PAYLOAD == 21, "NATS_MAX_PAYLOAD must be 21");
_Static_assert(NATS_MAX_DELIVERED_MSGS == 22, "NATS_MAX_DELIVERED_MSGS must be 22");
_Static_assert(NATS_INSUFFICIENT_BUFFER == 23, "NATS_INSUFFICIENT_BUFFER must be 23");
_Static_assert(NATS_NO_MEMORY == 24, "NATS_NO_MEMORY must be 24");
_Static_assert(NATS_SYS_ERROR == 25, "NATS_SYS_ERROR must be 25");
_Static_assert(NATS_TIMEOUT == 26, "NATS_TIMEOUT must be 26");
_Static_assert(NATS_FAILED_TO_INITIALIZE == 27, "NATS_FAILED_TO_INITIALIZE must be 27");
_Static_assert(NATS_NOT_INITIALIZED == 28, "NATS_NOT_INITIALIZED must be 28");
_Static_assert(NATS_SSL_ERROR == 29, "NATS_SSL_ERROR must be 29");
_Static_assert(NATS_NO_SERVER_SUPPORT == 30, "NATS_NO_SERVER_SUPPORT must be 30");
_Static_assert(NATS_NOT_YET_CONNECTED == 31, "NATS_NOT_YET_CONNECTED must be 31");
_Static_assert(NATS_DRAINING == 32, "NATS_DRAINING must be 32");
_Static_assert(NATS_INVALID_QUEUE_NAME == 33, "NATS_INVALID_QUEUE_NAME must be 33");
_Static_assert(NATS_NO_RESPONDERS == 34, "NATS_NO_RESPONDERS must be 34");
_Static_assert(NATS_MISMATCH == 35, "NATS_MISMATCH must be 35");
_Static_assert(NATS_MISSED_HEARTBEAT == 36, "NATS_MISSED_HEARTBEAT must be 36");

/* natsConnStatus */
_Static_assert(NATS_CONN_STATUS_DISCONNECTED == 0, "NATS_CONN_STATUS_DISCONNECTED must be 0");
_Static_assert(NATS_CONN_STATUS_CONNECTING == 1, "NATS_CONN_STATUS_CONNECTING must be 1");
_Static_assert(NATS_CONN_STATUS_CONNECTED == 2, "NATS_CONN_STATUS_CONNECTED must be 2");
_Static_assert(NATS_CONN_STATUS_CLOSED == 3, "NATS_CONN_STATUS_CLOSED must be 3");
_Static_assert(NATS_CONN_STATUS_RECONNECTING == 4, "NATS_CONN_STATUS_RECONNECTING must be 4");
_Static_assert(NATS_CONN_STATUS_DRAINING_SUBS == 5, "NATS_CONN_STATUS_DRAINING_SUBS must be 5");
_Static_assert(NATS_CONN_STATUS_DRAINING_PUBS == 6, "NATS_CONN_STATUS_DRAINING_PUBS must be 6");

_Static_assert(sizeof(natsStatus) == sizeof(int), "natsStatus must be int-sized");
_Static_assert(sizeof(natsConnStatus) == sizeof(int), "natsConnStatus must be int-sized");
_Static_assert(sizeof(natsSock) == sizeof(int), "natsSock is an int on Unix");

/* natsMsgList is public and non-opaque: { natsMsg **Msgs; int Count; } */
_Static_assert(offsetof(natsMsgList, Msgs) == 0, "natsMsgList.Msgs comes first");
_Static_assert(offsetof(natsMsgList, Count) == sizeof(natsMsg **), "natsMsgList.Count second");
_Static_assert(sizeof(natsMsgList) == 2 * sizeof(void *), "natsMsgList size (LP64)");

/* The header's version macros agree with each other. */
_Static_assert(NATS_VERSION_NUMBER ==
                   ((NATS_VERSION_MAJOR << 16) | (NATS_VERSION_MINOR << 8) | NATS_VERSION_PATCH),
               "NATS_VERSION_NUMBER encodes major.minor.patch");
_Static_assert(NATS_VERSION_MAJOR == 3, "major version 3");
_Static_assert(NATS_VERSION_REQUIRED_NUMBER <= NATS_VERSION_NUMBER, "required <= current");

static const struct {
    natsStatus  status;
    const char *name;
    const char *text;
} expected[] = {
    { NATS_OK,                         "NATS_OK", "OK" },
    { NATS_ERR,                        "NATS_ERR", "Error" },
    { NATS_PROTOCOL_ERROR,             "NATS_PROTOCOL_ERROR", "Protocol Error" },
    { NATS_IO_ERROR,                   "NATS_IO_ERROR", "IO Error" },
    { NATS_LINE_TOO_LONG,              "NATS_LINE_TOO_LONG", "Line too long" },
    { NATS_CONNECTION_CLOSED,          "NATS_CONNECTION_CLOSED", "Connection Closed" },
    { NATS_NO_SERVER,                  "NATS_NO_SERVER", "No server available for connection" },
    { NATS_STALE_CONNECTION,           "NATS_STALE_CONNECTION", "Stale Connection" },
    { NATS_SECURE_CONNECTION_WANTED,   "NATS_SECURE_CONNECTION_WANTED", "Secure Connection not available" },
    { NATS_SECURE_CONNECTION_REQUIRED, "NATS_SECURE_CONNECTION_REQUIRED", "Secure Connection Required" },
    { NATS_CONNECTION_DISCONNECTED,    "NATS_CONNECTION_DISCONNECTED", "Connection Disconnected" },
    { NATS_CONNECTION_AUTH_FAILED,     "NATS_CONNECTION_AUTH_FAILED", "Authentication Violation" },
    { NATS_NOT_PERMITTED,              "NATS_NOT_PERMITTED", "Not Permitted" },
    { NATS_NOT_FOUND,                  "NATS_NOT_FOUND", "Not Found" },
    { NATS_ADDRESS_MISSING,            "NATS_ADDRESS_MISSING", "TCP Address missing" },
    { NATS_INVALID_SUBJECT,            "NATS_INVALID_SUBJECT", "Invalid Subject" },
    { NATS_INVALID_ARG,                "NATS_INVALID_ARG", "Invalid Argument" },
    { NATS_INVALID_SUBSCRIPTION,       "NATS_INVALID_SUBSCRIPTION", "Invalid Subscription" },
    { NATS_INVALID_TIMEOUT,            "NATS_INVALID_TIMEOUT", "Invalid Timeout" },
    { NATS_ILLEGAL_STATE,              "NATS_ILLEGAL_STATE", "Illegal State" },
    { NATS_SLOW_CONSUMER,              "NATS_SLOW_CONSUMER", "Slow Consumer, messages dropped" },
    { NATS_MAX_PAYLOAD,                "NATS_MAX_PAYLOAD", "Maximum Payload Exceeded" },
    { NATS_MAX_DELIVERED_MSGS,         "NATS_MAX_DELIVERED_MSGS", "Maximum Messages Delivered" },
    { NATS_INSUFFICIENT_BUFFER,        "NATS_INSUFFICIENT_BUFFER", "Insufficient Buffer" },
    { NATS_NO_MEMORY,                  "NATS_NO_MEMORY", "No Memory" },
    { NATS_SYS_ERROR,                  "NATS_SYS_ERROR", "System Error" },
    { NATS_TIMEOUT,                    "NATS_TIMEOUT", "Timeout" },
    { NATS_FAILED_TO_INITIALIZE,       "NATS_FAILED_TO_INITIALIZE", "Initialization Failed" },
    { NATS_NOT_INITIALIZED,            "NATS_NOT_INITIALIZED", "Not Initialized" },
    { NATS_SSL_ERROR,                  "NATS_SSL_ERROR", "SSL Error" },
    { NATS_NO_SERVER_SUPPORT,          "NATS_NO_SERVER_SUPPORT", "Not Supported By Server" },
    { NATS_NOT_YET_CONNECTED,          "NATS_NOT_YET_CONNECTED", "Not Yet Connected" },
    { NATS_DRAINING,                   "NATS_DRAINING", "Draining in progress" },
    { NATS_INVALID_QUEUE_NAME,         "NATS_INVALID_QUEUE_NAME", "Invalid queue name" },
    { NATS_NO_RESPONDERS,              "NATS_NO_RESPONDERS", "No responders available for request" },
    { NATS_MISMATCH,                   "NATS_MISMATCH", "Mismatch" },
    { NATS_MISSED_HEARTBEAT,           "NATS_MISSED_HEARTBEAT", "Missed Server Heartbeat" },
};

#define N_EXPECTED ((int) (sizeof(expected) / sizeof(expected[0])))

int
main(void)
{
    int         i;
    const char *v;

    CHECK(N_EXPECTED == 37, "status table has 37 entries (0..36)");

    for (i = 0; i < N_EXPECTED; i++) {
        const char *got = natsStatus_GetText(expected[i].status);
        CHECKF((int) expected[i].status == i, "%s == %d", expected[i].name, i);
        CHECKF(got != NULL && strcmp(got, expected[i].text) == 0,
               "natsStatus_GetText(%s) == \"%s\"", expected[i].name, expected[i].text);
        if (got != NULL && strcmp(got, expected[i].text) != 0)
            fprintf(stderr, "  got \"%s\"\n", got);
    }

    CHECK(nats_CheckCompatibility(), "nats_CheckCompatibility() is true");
    CHECK(nats_GetVersionNumber() >= 0x030400, "nats_GetVersionNumber() >= 0x030400");
    CHECK((nats_GetVersionNumber() >> 16) == 3, "nats_GetVersionNumber() major is 3");

    v = nats_GetVersion();
    CHECK(v != NULL && strncmp(v, "3.", 2) == 0, "nats_GetVersion() starts with \"3.\"");
    if (v != NULL) {
        /* The string and the number describe the same version. */
        unsigned maj = 0, min = 0, pat = 0;
        int      n   = sscanf(v, "%u.%u.%u", &maj, &min, &pat);
        CHECK(n == 3 && ((maj << 16) | (min << 8) | pat) == nats_GetVersionNumber(),
              "nats_GetVersion() matches nats_GetVersionNumber()");
    }
#ifdef NATS_EXT_LIBNATS_RS_VERSION
    /* Our own release, beside the nats.c API level (ours only). */
    v = natsLib_GetLibnatsRsVersion();
    CHECK(v != NULL && v[0] >= '0' && v[0] <= '9' && strchr(v, '.') != NULL,
          "natsLib_GetLibnatsRsVersion() is a version");
#endif

    HARNESS_END();
}
