/*
 * headers.c - natsMsg_Create argument checks, the natsMsgHeader_* API
 * (Set/Add/Get/Values/Keys/Delete) and a round trip of headers through the
 * server; natsMsg getters on NULL.
 *
 * Not checked on purpose (nats.c 3.4.1 is inconsistent there): what Get
 * writes to *value when it returns NATS_NOT_FOUND, what a local Get returns
 * for a key set with a NULL value, and the order of natsMsgHeader_Keys.
 * Two round trips live in hardening.c because nats.c 3.4.1 gets them wrong:
 * publishing a header whose value is NULL crashes (strlen(NULL) in
 * natsMsgHeader_encodedLen), and a received header with an empty value
 * breaks parsing (NATS_PROTOCOL_ERROR when it is the last header, otherwise
 * the next "Key: value" line becomes its value).
 */
#include "harness.h"

static bool
get_is(natsMsg *m, const char *key, const char *want)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, key, &v) == NATS_OK && v != NULL && strcmp(v, want) == 0;
}

/* True if `values` (count n) equals the NULL-terminated list `want`. */
static bool
values_are(natsMsg *m, const char *key, const char **want)
{
    const char **vals = NULL;
    int          n = 0, i, nwant = 0;
    bool         ok;

    while (want[nwant] != NULL)
        nwant++;
    if (natsMsgHeader_Values(m, key, &vals, &n) != NATS_OK)
        return false;
    ok = (n == nwant);
    for (i = 0; ok && i < n; i++)
        ok = vals[i] != NULL && strcmp(vals[i], want[i]) == 0;
    free((void *) vals);
    return ok;
}

/* True if the key set equals `want` (any order). */
static bool
keys_are(natsMsg *m, const char **want)
{
    const char **keys = NULL;
    int          n = 0, i, j, nwant = 0;
    bool         ok;

    while (want[nwant] != NULL)
        nwant++;
    if (natsMsgHeader_Keys(m, &keys, &n) != NATS_OK)
        return false;
    ok = (n == nwant);
    for (i = 0; ok && i < nwant; i++) {
        bool found = false;
        for (j = 0; j < n; j++)
            if (keys[j] != NULL && strcmp(keys[j], want[i]) == 0)
                found = true;
        ok = found;
    }
    free((void *) keys);
    return ok;
}

static void
msg_create(void)
{
    natsMsg *m = NULL;

    CHECK_STATUS(natsMsg_Create(&m, NULL, NULL, "x", 1), NATS_INVALID_ARG,
                 "natsMsg_Create(NULL subject)");
    CHECK(m == NULL, "natsMsg_Create(NULL subject) leaves msg NULL");
    CHECK_STATUS(natsMsg_Create(&m, "", NULL, "x", 1), NATS_INVALID_ARG,
                 "natsMsg_Create(empty subject)");
    CHECK_STATUS(natsMsg_Create(&m, "foo", "", "x", 1), NATS_INVALID_ARG,
                 "natsMsg_Create(empty reply)");
    CHECK(m == NULL, "failed natsMsg_Create leaves msg NULL");

    CHECK_STATUS(natsMsg_Create(&m, "foo", "bar", "data", 4), NATS_OK, "natsMsg_Create");
    if (m != NULL) {
        CHECK(strcmp(natsMsg_GetSubject(m), "foo") == 0, "natsMsg_GetSubject");
        CHECK(strcmp(natsMsg_GetReply(m), "bar") == 0, "natsMsg_GetReply");
        CHECK(natsMsg_GetDataLength(m) == 4 && memcmp(natsMsg_GetData(m), "data", 4) == 0,
              "natsMsg_GetData / GetDataLength");
        CHECK(natsMsg_GetData(m)[4] == '\0', "created message data is NUL-terminated");
        CHECK(!natsMsg_IsNoResponders(m), "natsMsg_IsNoResponders is false");
        natsMsg_Destroy(m);
        m = NULL;
    }
    CHECK_STATUS(natsMsg_Create(&m, "foo", NULL, NULL, 0), NATS_OK,
                 "natsMsg_Create without reply and data");
    if (m != NULL) {
        CHECK(natsMsg_GetReply(m) == NULL, "no reply -> GetReply is NULL");
        CHECK(natsMsg_GetDataLength(m) == 0, "no data -> GetDataLength is 0");
        natsMsg_Destroy(m);
    }

    CHECK(natsMsg_GetSubject(NULL) == NULL, "natsMsg_GetSubject(NULL) is NULL");
    CHECK(natsMsg_GetReply(NULL) == NULL, "natsMsg_GetReply(NULL) is NULL");
    CHECK(natsMsg_GetData(NULL) == NULL, "natsMsg_GetData(NULL) is NULL");
    CHECK(natsMsg_GetDataLength(NULL) == 0, "natsMsg_GetDataLength(NULL) is 0");
    CHECK(!natsMsg_IsNoResponders(NULL), "natsMsg_IsNoResponders(NULL) is false");
    natsMsg_Destroy(NULL);
    CHECK(true, "natsMsg_Destroy(NULL) is a no-op");
}

static void
header_api(void)
{
    natsMsg     *m = NULL;
    const char  *v = NULL;
    const char **list = NULL;
    int          n = 0;

    if (!CHECK_STATUS(natsMsg_Create(&m, "hdr", NULL, "payload", 7), NATS_OK,
                      "natsMsg_Create for headers"))
        return;

    /* No headers yet. */
    CHECK_STATUS(natsMsgHeader_Get(m, "k", &v), NATS_NOT_FOUND, "Get without headers");
    CHECK_STATUS(natsMsgHeader_Values(m, "k", &list, &n), NATS_NOT_FOUND,
                 "Values without headers");
    CHECK_STATUS(natsMsgHeader_Keys(m, &list, &n), NATS_NOT_FOUND, "Keys without headers");
    CHECK_STATUS(natsMsgHeader_Delete(m, "k"), NATS_NOT_FOUND, "Delete without headers");

    /* Set, Get, replace. */
    CHECK_STATUS(natsMsgHeader_Set(m, "k", "v1"), NATS_OK, "Set k=v1");
    CHECK(get_is(m, "k", "v1"), "Get k == v1");
    CHECK_STATUS(natsMsgHeader_Set(m, "k", "v2"), NATS_OK, "Set k=v2");
    CHECK(get_is(m, "k", "v2"), "Set replaces the value");
    {
        const char *want[] = {"v2", NULL};
        CHECK(values_are(m, "k", want), "Values after Set has one value");
    }

    /* Add appends; Get returns the first value. */
    CHECK_STATUS(natsMsgHeader_Add(m, "k", "v3"), NATS_OK, "Add k=v3");
    CHECK_STATUS(natsMsgHeader_Add(m, "k", "v4"), NATS_OK, "Add k=v4");
    CHECK(get_is(m, "k", "v2"), "Get returns the first value");
    {
        const char *want[] = {"v2", "v3", "v4", NULL};
        CHECK(values_are(m, "k", want), "Values returns all values in order");
    }
    CHECK_STATUS(natsMsgHeader_Add(m, "new", "n1"), NATS_OK, "Add to a new key");
    CHECK(get_is(m, "new", "n1"), "Get a key created by Add");

    /* Keys are case-sensitive. */
    CHECK_STATUS(natsMsgHeader_Get(m, "K", &v), NATS_NOT_FOUND, "Get with other case");
    CHECK_STATUS(natsMsgHeader_Set(m, "My-Key", "upper"), NATS_OK, "Set My-Key");
    CHECK_STATUS(natsMsgHeader_Set(m, "my-key", "lower"), NATS_OK, "Set my-key");
    CHECK(get_is(m, "My-Key", "upper") && get_is(m, "my-key", "lower"),
          "keys differing in case are distinct");
    CHECK_STATUS(natsMsgHeader_Get(m, "MY-KEY", &v), NATS_NOT_FOUND,
                 "Get MY-KEY is NATS_NOT_FOUND");

    /* Keys: caller frees the array (not the strings). */
    {
        const char *want[] = {"k", "new", "My-Key", "my-key", NULL};
        CHECK(keys_are(m, want), "Keys lists every key once");
    }

    /* Missing keys. */
    CHECK_STATUS(natsMsgHeader_Get(m, "missing", &v), NATS_NOT_FOUND, "Get missing key");
    CHECK_STATUS(natsMsgHeader_Values(m, "missing", &list, &n), NATS_NOT_FOUND,
                 "Values of missing key");
    CHECK_STATUS(natsMsgHeader_Delete(m, "missing"), NATS_NOT_FOUND, "Delete missing key");

    /* Delete removes the key with all its values. */
    CHECK_STATUS(natsMsgHeader_Delete(m, "k"), NATS_OK, "Delete k");
    CHECK_STATUS(natsMsgHeader_Get(m, "k", &v), NATS_NOT_FOUND, "Get after Delete");
    CHECK_STATUS(natsMsgHeader_Values(m, "k", &list, &n), NATS_NOT_FOUND,
                 "Values after Delete");
    CHECK_STATUS(natsMsgHeader_Delete(m, "k"), NATS_NOT_FOUND, "second Delete");
    {
        const char *want[] = {"new", "My-Key", "my-key", NULL};
        CHECK(keys_are(m, want), "Keys after Delete");
    }

    /* A NULL value is accepted. */
    CHECK_STATUS(natsMsgHeader_Set(m, "nullval", NULL), NATS_OK, "Set with a NULL value");
    CHECK_STATUS(natsMsgHeader_Delete(m, "nullval"), NATS_OK, "Delete key with NULL value");

    /* Long keys and values. */
    {
        char key[300], val[2000];
        memset(key, 'K', sizeof(key) - 1);
        key[sizeof(key) - 1] = '\0';
        memset(val, 'v', sizeof(val) - 1);
        val[sizeof(val) - 1] = '\0';
        CHECK_STATUS(natsMsgHeader_Set(m, key, val), NATS_OK, "Set a long key and value");
        CHECK(get_is(m, key, val), "Get a long key and value");
        CHECK_STATUS(natsMsgHeader_Delete(m, key), NATS_OK, "Delete a long key");
    }

    /* Headers do not touch the payload. */
    CHECK(natsMsg_GetDataLength(m) == 7 && strcmp(natsMsg_GetData(m), "payload") == 0,
          "payload unchanged by header calls");

    /* Invalid arguments. */
    CHECK_STATUS(natsMsgHeader_Set(m, "", "v"), NATS_INVALID_ARG, "Set empty key");
    CHECK_STATUS(natsMsgHeader_Set(m, NULL, "v"), NATS_INVALID_ARG, "Set NULL key");
    CHECK_STATUS(natsMsgHeader_Add(m, "", "v"), NATS_INVALID_ARG, "Add empty key");
    CHECK_STATUS(natsMsgHeader_Add(m, NULL, "v"), NATS_INVALID_ARG, "Add NULL key");
    CHECK_STATUS(natsMsgHeader_Get(m, "", &v), NATS_INVALID_ARG, "Get empty key");
    CHECK_STATUS(natsMsgHeader_Get(m, NULL, &v), NATS_INVALID_ARG, "Get NULL key");
    CHECK_STATUS(natsMsgHeader_Get(m, "new", NULL), NATS_INVALID_ARG, "Get NULL value pointer");
    CHECK_STATUS(natsMsgHeader_Values(m, "", &list, &n), NATS_INVALID_ARG, "Values empty key");
    CHECK_STATUS(natsMsgHeader_Values(m, "new", NULL, &n), NATS_INVALID_ARG,
                 "Values NULL array pointer");
    CHECK_STATUS(natsMsgHeader_Values(m, "new", &list, NULL), NATS_INVALID_ARG,
                 "Values NULL count pointer");
    CHECK_STATUS(natsMsgHeader_Keys(m, NULL, &n), NATS_INVALID_ARG, "Keys NULL array pointer");
    CHECK_STATUS(natsMsgHeader_Keys(m, &list, NULL), NATS_INVALID_ARG,
                 "Keys NULL count pointer");
    CHECK_STATUS(natsMsgHeader_Delete(m, ""), NATS_INVALID_ARG, "Delete empty key");
    CHECK_STATUS(natsMsgHeader_Delete(m, NULL), NATS_INVALID_ARG, "Delete NULL key");

    CHECK_STATUS(natsMsgHeader_Set(NULL, "k", "v"), NATS_INVALID_ARG, "Set on NULL msg");
    CHECK_STATUS(natsMsgHeader_Add(NULL, "k", "v"), NATS_INVALID_ARG, "Add on NULL msg");
    CHECK_STATUS(natsMsgHeader_Get(NULL, "k", &v), NATS_INVALID_ARG, "Get on NULL msg");
    CHECK_STATUS(natsMsgHeader_Values(NULL, "k", &list, &n), NATS_INVALID_ARG,
                 "Values on NULL msg");
    CHECK_STATUS(natsMsgHeader_Keys(NULL, &list, &n), NATS_INVALID_ARG, "Keys on NULL msg");
    CHECK_STATUS(natsMsgHeader_Delete(NULL, "k"), NATS_INVALID_ARG, "Delete on NULL msg");

    natsMsg_Destroy(m);
}

static void
round_trip(natsConnection *nc)
{
    natsSubscription *sub = NULL;
    natsMsg          *out = NULL;
    natsMsg          *in  = NULL;
    natsStatus        s;

    CHECK_STATUS(natsConnection_HasHeaderSupport(nc), NATS_OK, "server supports headers");

    s = natsConnection_SubscribeSync(&sub, nc, "hdr.rt");
    if (s == NATS_OK) s = natsMsg_Create(&out, "hdr.rt", "hdr.reply", "body", 4);
    if (s == NATS_OK) s = natsMsgHeader_Set(out, "Single", "one");
    if (s == NATS_OK) s = natsMsgHeader_Add(out, "Multi", "a");
    if (s == NATS_OK) s = natsMsgHeader_Add(out, "Multi", "b");
    if (s == NATS_OK) s = natsMsgHeader_Add(out, "Multi", "c");
    if (s == NATS_OK) s = natsMsgHeader_Set(out, "case", "lower");
    if (s == NATS_OK) s = natsMsgHeader_Set(out, "Case", "upper");
    if (s == NATS_OK) s = natsMsgHeader_Set(out, "Spaces", "x y z");
    if (!CHECK_STATUS(s, NATS_OK, "build a message with headers")) {
        natsMsg_Destroy(out);
        natsSubscription_Destroy(sub);
        return;
    }
    CHECK_STATUS(natsConnection_PublishMsg(nc, out), NATS_OK, "PublishMsg with headers");
    CHECK_STATUS(natsConnection_Flush(nc), NATS_OK, "Flush");
    s = natsSubscription_NextMsg(&in, sub, 5000);
    if (CHECK_STATUS(s, NATS_OK, "NextMsg with headers") && in != NULL) {
        CHECK(strcmp(natsMsg_GetSubject(in), "hdr.rt") == 0, "round trip: subject");
        CHECK(natsMsg_GetReply(in) != NULL && strcmp(natsMsg_GetReply(in), "hdr.reply") == 0,
              "round trip: reply");
        CHECK(natsMsg_GetDataLength(in) == 4 && strcmp(natsMsg_GetData(in), "body") == 0,
              "round trip: payload excludes the header block");
        CHECK(get_is(in, "Single", "one"), "round trip: single value");
        {
            const char *want[] = {"a", "b", "c", NULL};
            CHECK(values_are(in, "Multi", want), "round trip: multiple values in order");
        }
        CHECK(get_is(in, "case", "lower") && get_is(in, "Case", "upper"),
              "round trip: keys stay case-sensitive");
        CHECK(get_is(in, "Spaces", "x y z"), "round trip: value with spaces");
        {
            const char *want[] = {"Single", "Multi", "case", "Case", "Spaces", NULL};
            CHECK(keys_are(in, want), "round trip: Keys");
        }
        /* Received headers can be modified and re-published. */
        CHECK_STATUS(natsMsgHeader_Set(in, "Single", "changed"), NATS_OK,
                     "Set on a received message");
        CHECK(get_is(in, "Single", "changed"), "Get after Set on a received message");
        natsMsg_Destroy(in);
        in = NULL;
    }

    /* A header-only message with an empty payload. */
    natsMsg_Destroy(out);
    out = NULL;
    s = natsMsg_Create(&out, "hdr.rt", NULL, NULL, 0);
    if (s == NATS_OK) s = natsMsgHeader_Set(out, "Only", "headers");
    if (s == NATS_OK) s = natsConnection_PublishMsg(nc, out);
    if (s == NATS_OK) s = natsSubscription_NextMsg(&in, sub, 5000);
    if (CHECK_STATUS(s, NATS_OK, "header-only message round trip") && in != NULL) {
        CHECK(natsMsg_GetDataLength(in) == 0, "header-only message: payload length 0");
        CHECK(natsMsg_GetData(in) != NULL && natsMsg_GetData(in)[0] == '\0',
              "header-only message: data is \"\"");
        CHECK(get_is(in, "Only", "headers"), "header-only message: header value");
        natsMsg_Destroy(in);
        in = NULL;
    }

    /* A message published without headers has none. */
    s = natsConnection_PublishString(nc, "hdr.rt", "plain");
    if (s == NATS_OK) s = natsSubscription_NextMsg(&in, sub, 5000);
    if (CHECK_STATUS(s, NATS_OK, "plain message round trip") && in != NULL) {
        const char **keys = NULL;
        int          n = 0;
        CHECK_STATUS(natsMsgHeader_Keys(in, &keys, &n), NATS_NOT_FOUND,
                     "plain message has no header keys");
        natsMsg_Destroy(in);
    }

    natsMsg_Destroy(out);
    natsSubscription_Destroy(sub);
}

int
main(void)
{
    natsConnection *nc = NULL;
    natsStatus      s;

    msg_create();
    header_api();

    s = natsConnection_ConnectTo(&nc, test_url());
    if (CHECK_STATUS(s, NATS_OK, "natsConnection_ConnectTo(NATS_URL)"))
        round_trip(nc);
    natsConnection_Destroy(nc);

    nats_Close();
    HARNESS_END();
}
