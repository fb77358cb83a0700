/* differential: no */
/*
 * header_api.c - the standalone header map natsHeader_* (New, Set, Add, Get,
 * Values, Keys, KeysCount, Delete, Destroy), which nats.c added after 3.4.1
 * (so there is nothing to compare with in Debian's libnats3.4).
 *
 * Checked: statuses for NULL and empty arguments, NATS_NOT_FOUND for missing
 * keys and empty maps, case-sensitive keys, the order of values, that Set
 * replaces all values, that the returned arrays are freed with free() only,
 * and that destroying NULL is harmless. No server is needed.
 */
#include "harness.h"

/* True if natsHeader_Get(h, key) is NATS_OK and gives `want`. */
static bool
get_is(natsHeader *h, const char *key, const char *want)
{
    const char *v = NULL;
    return natsHeader_Get(h, key, &v) == NATS_OK && v != NULL && strcmp(v, want) == 0;
}

/* True if natsHeader_Values(h, key) equals the NULL-terminated list `want`. */
static bool
values_are(natsHeader *h, const char *key, const char **want)
{
    const char **vals = NULL;
    int          n = 0, i, nwant = 0;
    bool         ok;

    while (want[nwant] != NULL)
        nwant++;
    if (natsHeader_Values(h, key, &vals, &n) != NATS_OK)
        return false;
    ok = (vals != NULL) && (n == nwant);
    for (i = 0; ok && i < n; i++)
        ok = vals[i] != NULL && strcmp(vals[i], want[i]) == 0;
    free((void *) vals);
    return ok;
}

/* True if natsHeader_Keys(h) holds exactly the keys of the NULL-terminated
 * list `want`, in any order (nats.c does not specify one). */
static bool
keys_are(natsHeader *h, const char **want)
{
    const char **keys = NULL;
    int          n = 0, i, j, nwant = 0;
    bool         ok;

    while (want[nwant] != NULL)
        nwant++;
    if (natsHeader_Keys(h, &keys, &n) != NATS_OK)
        return false;
    ok = (keys != NULL) && (n == nwant);
    for (i = 0; ok && i < nwant; i++)
    {
        bool found = false;
        for (j = 0; j < n; j++)
            found = found || (keys[j] != NULL && strcmp(keys[j], want[i]) == 0);
        ok = found;
    }
    free((void *) keys);
    return ok;
}

static void
null_arguments(void)
{
    natsHeader  *h    = NULL;
    const char  *v    = "untouched";
    const char **arr  = NULL;
    int          n    = 0;

    CHECK_STATUS(natsHeader_New(NULL), NATS_INVALID_ARG, "New(NULL)");
    if (!CHECK_STATUS(natsHeader_New(&h), NATS_OK, "New for NULL checks"))
        return;

    CHECK_STATUS(natsHeader_Set(NULL, "k", "v"), NATS_INVALID_ARG, "Set(NULL header)");
    CHECK_STATUS(natsHeader_Set(h, NULL, "v"), NATS_INVALID_ARG, "Set(NULL key)");
    CHECK_STATUS(natsHeader_Set(h, "", "v"), NATS_INVALID_ARG, "Set(empty key)");
    CHECK_STATUS(natsHeader_Set(h, "k", NULL), NATS_INVALID_ARG, "Set(NULL value)");
    CHECK_STATUS(natsHeader_Add(NULL, "k", "v"), NATS_INVALID_ARG, "Add(NULL header)");
    CHECK_STATUS(natsHeader_Add(h, NULL, "v"), NATS_INVALID_ARG, "Add(NULL key)");
    CHECK_STATUS(natsHeader_Add(h, "", "v"), NATS_INVALID_ARG, "Add(empty key)");
    CHECK_STATUS(natsHeader_Add(h, "k", NULL), NATS_INVALID_ARG, "Add(NULL value)");
    CHECK(natsHeader_KeysCount(h) == 0, "failed Set/Add stored nothing");

    CHECK_STATUS(natsHeader_Get(NULL, "k", &v), NATS_INVALID_ARG, "Get(NULL header)");
    CHECK_STATUS(natsHeader_Get(h, NULL, &v), NATS_INVALID_ARG, "Get(NULL key)");
    CHECK_STATUS(natsHeader_Get(h, "", &v), NATS_INVALID_ARG, "Get(empty key)");
    CHECK_STATUS(natsHeader_Get(h, "k", NULL), NATS_INVALID_ARG, "Get(NULL value)");

    CHECK_STATUS(natsHeader_Values(NULL, "k", &arr, &n), NATS_INVALID_ARG, "Values(NULL header)");
    CHECK_STATUS(natsHeader_Values(h, NULL, &arr, &n), NATS_INVALID_ARG, "Values(NULL key)");
    CHECK_STATUS(natsHeader_Values(h, "", &arr, &n), NATS_INVALID_ARG, "Values(empty key)");
    CHECK_STATUS(natsHeader_Values(h, "k", NULL, &n), NATS_INVALID_ARG, "Values(NULL values)");
    CHECK_STATUS(natsHeader_Values(h, "k", &arr, NULL), NATS_INVALID_ARG, "Values(NULL count)");

    CHECK_STATUS(natsHeader_Keys(NULL, &arr, &n), NATS_INVALID_ARG, "Keys(NULL header)");
    CHECK_STATUS(natsHeader_Keys(h, NULL, &n), NATS_INVALID_ARG, "Keys(NULL keys)");
    CHECK_STATUS(natsHeader_Keys(h, &arr, NULL), NATS_INVALID_ARG, "Keys(NULL count)");

    CHECK_STATUS(natsHeader_Delete(NULL, "k"), NATS_INVALID_ARG, "Delete(NULL header)");
    CHECK_STATUS(natsHeader_Delete(h, NULL), NATS_INVALID_ARG, "Delete(NULL key)");
    CHECK_STATUS(natsHeader_Delete(h, ""), NATS_INVALID_ARG, "Delete(empty key)");

    CHECK(natsHeader_KeysCount(NULL) == 0, "KeysCount(NULL) is 0");
    natsHeader_Destroy(NULL);
    CHECK(true, "Destroy(NULL) is harmless");
    natsHeader_Destroy(h);
}

static void
empty_map(void)
{
    natsHeader  *h   = NULL;
    const char  *v   = "untouched";
    const char **arr = (const char **) &v; /* any non-NULL value */
    int          n   = 42;

    if (!CHECK_STATUS(natsHeader_New(&h), NATS_OK, "New"))
        return;
    CHECK(h != NULL, "New gives a header");
    CHECK(natsHeader_KeysCount(h) == 0, "new header has no keys");

    CHECK_STATUS(natsHeader_Get(h, "k", &v), NATS_NOT_FOUND, "Get on empty map");
    CHECK(v == NULL, "Get on empty map sets *value to NULL");
    CHECK_STATUS(natsHeader_Values(h, "k", &arr, &n), NATS_NOT_FOUND, "Values on empty map");
    CHECK(arr == NULL && n == 0, "Values on empty map gives NULL and 0");
    arr = (const char **) &v;
    n = 42;
    CHECK_STATUS(natsHeader_Keys(h, &arr, &n), NATS_NOT_FOUND, "Keys on empty map");
    CHECK(arr == NULL && n == 0, "Keys on empty map gives NULL and 0");
    CHECK_STATUS(natsHeader_Delete(h, "k"), NATS_NOT_FOUND, "Delete on empty map");
    natsHeader_Destroy(h);
}

static void
set_add_get_delete(void)
{
    natsHeader  *h   = NULL;
    const char  *v   = NULL;
    const char **arr = NULL;
    int          n   = 0;

    if (!CHECK_STATUS(natsHeader_New(&h), NATS_OK, "New for set/add"))
        return;

    /* Set, then Add appends in order. */
    CHECK_STATUS(natsHeader_Set(h, "My-Key", "v1"), NATS_OK, "Set My-Key v1");
    CHECK(get_is(h, "My-Key", "v1"), "Get My-Key is v1");
    CHECK_STATUS(natsHeader_Add(h, "My-Key", "v2"), NATS_OK, "Add My-Key v2");
    CHECK_STATUS(natsHeader_Add(h, "My-Key", "v3"), NATS_OK, "Add My-Key v3");
    CHECK(get_is(h, "My-Key", "v1"), "Get returns the first value");
    {
        const char *want[] = {"v1", "v2", "v3", NULL};
        CHECK(values_are(h, "My-Key", want), "Values keeps the order v1 v2 v3");
    }
    CHECK(natsHeader_KeysCount(h) == 1, "one key with three values counts once");

    /* Add creates a missing key; empty values are allowed. */
    CHECK_STATUS(natsHeader_Add(h, "Other", ""), NATS_OK, "Add Other empty value");
    CHECK(get_is(h, "Other", ""), "Get Other is the empty string");
    CHECK(natsHeader_KeysCount(h) == 2, "two keys");

    /* Set replaces every value. */
    CHECK_STATUS(natsHeader_Set(h, "My-Key", "only"), NATS_OK, "Set My-Key only");
    {
        const char *want[] = {"only", NULL};
        CHECK(values_are(h, "My-Key", want), "Set replaced all values");
    }
    CHECK(natsHeader_KeysCount(h) == 2, "still two keys after Set");

    /* Keys are case-sensitive. */
    CHECK_STATUS(natsHeader_Get(h, "my-key", &v), NATS_NOT_FOUND, "Get my-key (other case) not found");
    CHECK(v == NULL, "not found sets *value to NULL");
    CHECK_STATUS(natsHeader_Values(h, "MY-KEY", &arr, &n), NATS_NOT_FOUND,
                 "Values MY-KEY (other case) not found");
    CHECK(arr == NULL && n == 0, "Values not found gives NULL and 0");
    CHECK_STATUS(natsHeader_Delete(h, "my-key"), NATS_NOT_FOUND, "Delete my-key (other case) not found");
    CHECK_STATUS(natsHeader_Set(h, "my-key", "lower"), NATS_OK, "Set my-key lower");
    CHECK(get_is(h, "my-key", "lower"), "Get my-key is lower");
    CHECK(get_is(h, "My-Key", "only"), "Get My-Key still only");
    CHECK(natsHeader_KeysCount(h) == 3, "three keys (case-sensitive)");
    {
        const char *want[] = {"My-Key", "Other", "my-key", NULL};
        CHECK(keys_are(h, want), "Keys lists My-Key, Other, my-key");
    }

    /* Delete removes a key and all its values. */
    CHECK_STATUS(natsHeader_Add(h, "Other", "second"), NATS_OK, "Add Other second");
    CHECK_STATUS(natsHeader_Delete(h, "Other"), NATS_OK, "Delete Other");
    CHECK_STATUS(natsHeader_Get(h, "Other", &v), NATS_NOT_FOUND, "Get Other after Delete");
    CHECK_STATUS(natsHeader_Delete(h, "Other"), NATS_NOT_FOUND, "Delete Other twice");
    CHECK(natsHeader_KeysCount(h) == 2, "two keys after Delete");
    {
        const char *want[] = {"My-Key", "my-key", NULL};
        CHECK(keys_are(h, want), "Keys lists My-Key, my-key");
    }
    CHECK_STATUS(natsHeader_Delete(h, "My-Key"), NATS_OK, "Delete My-Key");
    CHECK_STATUS(natsHeader_Delete(h, "my-key"), NATS_OK, "Delete my-key");
    CHECK(natsHeader_KeysCount(h) == 0, "no keys left");
    CHECK_STATUS(natsHeader_Keys(h, &arr, &n), NATS_NOT_FOUND, "Keys after deleting all");

    /* The map is usable again after being emptied. */
    CHECK_STATUS(natsHeader_Add(h, "again", "x"), NATS_OK, "Add after emptying");
    CHECK(get_is(h, "again", "x"), "Get after emptying");

    natsHeader_Destroy(h);
}

/* Many keys and values: the arrays hold them all, and values keep order. */
static void
many_entries(void)
{
    natsHeader *h = NULL;
    char        key[32], val[32];
    int         i;
    bool        ok = true;

    if (!CHECK_STATUS(natsHeader_New(&h), NATS_OK, "New for many entries"))
        return;
    for (i = 0; i < 100; i++)
    {
        snprintf(key, sizeof(key), "key-%d", i);
        snprintf(val, sizeof(val), "val-%d", i);
        ok = ok && natsHeader_Set(h, key, val) == NATS_OK;
        ok = ok && natsHeader_Add(h, "multi", val) == NATS_OK;
    }
    CHECK(ok, "100 Set and 100 Add succeed");
    CHECK(natsHeader_KeysCount(h) == 101, "101 keys");
    {
        const char **vals = NULL;
        int          n = 0;
        bool         inorder;

        CHECK_STATUS(natsHeader_Values(h, "multi", &vals, &n), NATS_OK, "Values of multi");
        inorder = (vals != NULL) && (n == 100);
        for (i = 0; inorder && i < n; i++)
        {
            snprintf(val, sizeof(val), "val-%d", i);
            inorder = strcmp(vals[i], val) == 0;
        }
        CHECK(inorder, "100 values in the order they were added");
        free((void *) vals);
    }
    {
        const char **keys = NULL;
        int          n = 0, j;
        bool         all = true;

        CHECK_STATUS(natsHeader_Keys(h, &keys, &n), NATS_OK, "Keys of 101");
        CHECK(n == 101 && keys != NULL, "Keys gives 101 keys");
        for (i = 0; all && keys != NULL && i < 100; i++)
        {
            bool found = false;
            snprintf(key, sizeof(key), "key-%d", i);
            for (j = 0; j < n; j++)
                found = found || strcmp(keys[j], key) == 0;
            all = found;
        }
        CHECK(all, "every key-N is listed");
        free((void *) keys);
    }
    snprintf(key, sizeof(key), "key-%d", 57);
    CHECK(get_is(h, key, "val-57"), "Get key-57");
    natsHeader_Destroy(h);
}

int
main(void)
{
    null_arguments();
    empty_map();
    set_add_get_delete();
    many_entries();
    HARNESS_END();
}
