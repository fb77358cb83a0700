/*
 * tls_auth.c - TLS and authentication through the C API, against servers
 * the harness starts (TLS, mutual TLS, token, NKey user, operator mode with
 * a user JWT): the same program runs on nats.c 3.4.1 and on libnats-rs.
 * Calls that nats.c 3.4.1 does not have, and checks where we differ on
 * purpose, are under NATS_LIBNATS_RS.
 */
/* servers: security */
#include "harness.h"

static const char *
env(const char *name)
{
    const char *v = getenv(name);
    if (v == NULL) {
        fprintf(stderr, "missing %s (run through tests/ffi_c.rs)\n", name);
        exit(2);
    }
    return v;
}

static char *
tls_url(const char *host, const char *port_var)
{
    static char buf[2][128];
    static int  n = 0;
    char       *b = buf[n++ % 2];
    snprintf(b, sizeof(buf[0]), "tls://%s:%s", host, env(port_var));
    return b;
}

static char *
read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long  len;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t) len + 1);
    if (buf != NULL && fread(buf, 1, (size_t) len, f) != (size_t) len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/*
 * nats.c before 3.10 leaves the signature out of CONNECT when its first byte
 * is 0 (nats.c #705, fixed in 3.10), so the server refuses about 1 signed
 * connect in 256 ("Signature missing" in its debug log). The differential
 * run against Debian's nats.c 3.4.1 would fail now and then for that alone.
 * Against such a library a signed connect the server refuses is tried up to
 * twice more; against libnats-rs (which reports 3.14) and nats.c >= 3.10,
 * never: one refusal fails the check.
 */
static natsStatus
connect_signed(natsConnection **nc, natsOptions *o, const char *what)
{
    natsStatus s = natsConnection_Connect(nc, o);
    int        i;

    for (i = 0; i < 2 && s == NATS_CONNECTION_AUTH_FAILED && nats_GetVersionNumber() < 0x030A00;
         i++) {
        fprintf(stderr, "%s: refused by the server; tried again (nats.c < 3.10 drops signatures "
                        "starting with a zero byte)\n", what);
        s = natsConnection_Connect(nc, o);
    }
    return s;
}

/* Connects with `o` (destroyed here); on success checks a round trip.
 * `is_signed`: the connect signs the server's nonce (see connect_signed). */
static natsStatus
try_connect_as(natsOptions *o, const char *what, int is_signed)
{
    natsConnection   *nc  = NULL;
    natsSubscription *sub = NULL;
    natsMsg          *msg = NULL;
    natsStatus        s;

    s = is_signed ? connect_signed(&nc, o, what) : natsConnection_Connect(&nc, o);

    natsOptions_Destroy(o);
    if (s != NATS_OK) {
        fprintf(stderr, "%s: %d %s\n", what, s, nats_GetLastError(NULL));
        return s;
    }
    if (natsConnection_SubscribeSync(&sub, nc, "sec.check") == NATS_OK
        && natsConnection_PublishString(nc, "sec.check", "hello") == NATS_OK)
    {
        s = natsSubscription_NextMsg(&msg, sub, 2000);
        CHECKF(s == NATS_OK && msg != NULL && strcmp(natsMsg_GetData(msg), "hello") == 0,
               "%s: round trip", what);
        natsMsg_Destroy(msg);
    }
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(nc);
    return NATS_OK;
}

static natsStatus
try_connect(natsOptions *o, const char *what)
{
    return try_connect_as(o, what, 0);
}

static natsStatus
try_signed_connect(natsOptions *o, const char *what)
{
    return try_connect_as(o, what, 1);
}

static natsOptions *
opts_for(const char *url)
{
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetTimeout(o, 2000);
    natsOptions_SetAllowReconnect(o, false);
    return o;
}

static void
tls_tests(void)
{
    natsOptions *o;
    char        *cert = read_file(env("NATS_TLS_CERT"));
    char        *key  = read_file(env("NATS_TLS_KEY"));
    char        *ca   = read_file(env("NATS_TLS_CA"));

    /* Verified TLS, by name. */
    o = opts_for(tls_url("localhost", "NATS_TLS_PORT"));
    CHECK_STATUS(natsOptions_SetSecure(o, true), NATS_OK, "SetSecure");
    CHECK_STATUS(natsOptions_LoadCATrustedCertificates(o, env("NATS_TLS_CA")), NATS_OK,
                 "LoadCATrustedCertificates");
    CHECK_STATUS(try_connect(o, "tls with CA"), NATS_OK, "TLS connect with the CA");

    /* The server requires TLS: a nats:// URL is upgraded. */
    {
        char url[128];
        snprintf(url, sizeof(url), "nats://localhost:%s", env("NATS_TLS_PORT"));
        o = opts_for(url);
        natsOptions_LoadCATrustedCertificates(o, env("NATS_TLS_CA"));
        CHECK_STATUS(try_connect(o, "upgrade"), NATS_OK, "tls_required upgrades the client");
    }

    /* A CA that did not sign the server's certificate. */
    o = opts_for(tls_url("localhost", "NATS_TLS_PORT"));
    natsOptions_SetSecure(o, true);
    natsOptions_LoadCATrustedCertificates(o, env("NATS_TLS_OTHER_CA"));
    CHECK_STATUS(try_connect(o, "other CA"), NATS_SSL_ERROR, "unknown issuer: NATS_SSL_ERROR");

    /* Expected host name the certificate does not carry. */
    o = opts_for(tls_url("localhost", "NATS_TLS_PORT"));
    natsOptions_SetSecure(o, true);
    natsOptions_LoadCATrustedCertificates(o, env("NATS_TLS_CA"));
    CHECK_STATUS(natsOptions_SetExpectedHostname(o, "nats.example.com"), NATS_OK,
                 "SetExpectedHostname");
    CHECK_STATUS(try_connect(o, "wrong name"), NATS_SSL_ERROR, "wrong host name: NATS_SSL_ERROR");

    o = opts_for(tls_url("localhost", "NATS_TLS_PORT"));
    natsOptions_SetSecure(o, true);
    natsOptions_LoadCATrustedCertificates(o, env("NATS_TLS_CA"));
    natsOptions_SetExpectedHostname(o, "localhost");
    CHECK_STATUS(try_connect(o, "right name"), NATS_OK, "expected host name matches");

    /* No verification. */
    o = opts_for(tls_url("localhost", "NATS_TLS_PORT"));
    natsOptions_SetSecure(o, true);
    CHECK_STATUS(natsOptions_SkipServerVerification(o, true), NATS_OK, "SkipServerVerification");
    CHECK_STATUS(try_connect(o, "skip verify"), NATS_OK, "skip verification connects");

    /* CA from memory. */
    o = opts_for(tls_url("localhost", "NATS_TLS_PORT"));
    natsOptions_SetSecure(o, true);
    CHECK_STATUS(natsOptions_SetCATrustedCertificates(o, ca), NATS_OK, "SetCATrustedCertificates");
    CHECK_STATUS(try_connect(o, "CA in memory"), NATS_OK, "connect with CA from memory");

    /* A plain server and a client that requires TLS. */
    o = opts_for(test_url());
    natsOptions_SetSecure(o, true);
    CHECK_STATUS(try_connect(o, "wanted"), NATS_SECURE_CONNECTION_WANTED,
                 "plain server: NATS_SECURE_CONNECTION_WANTED");

    /* Bad material is refused when set. */
    natsOptions_Create(&o);
    CHECK_STATUS(natsOptions_LoadCATrustedCertificates(o, "/nonexistent/ca.pem"), NATS_SSL_ERROR,
                 "missing CA file: NATS_SSL_ERROR");
    CHECK_STATUS(natsOptions_LoadCATrustedCertificates(o, NULL), NATS_INVALID_ARG,
                 "NULL CA file: NATS_INVALID_ARG");
    CHECK_STATUS(natsOptions_LoadCertificatesChain(o, "/nonexistent/c.pem", "/nonexistent/k.pem"),
                 NATS_SSL_ERROR, "missing chain files: NATS_SSL_ERROR");
    CHECK_STATUS(natsOptions_LoadCertificatesChain(o, NULL, "k"), NATS_INVALID_ARG,
                 "NULL chain file: NATS_INVALID_ARG");
    CHECK_STATUS(natsOptions_SetCertificatesChain(o, "junk", "junk"), NATS_SSL_ERROR,
                 "junk chain PEM: NATS_SSL_ERROR");
    CHECK_STATUS(natsOptions_SetCiphers(o, NULL), NATS_INVALID_ARG, "NULL ciphers");
    CHECK_STATUS(natsOptions_SetCiphers(o, "ECDHE-ECDSA-AES128-GCM-SHA256"), NATS_OK,
                 "SetCiphers (ECDHE-ECDSA-AES128-GCM-SHA256)");
    CHECK_STATUS(natsOptions_SetCipherSuites(o, "TLS_AES_128_GCM_SHA256"), NATS_OK,
                 "SetCipherSuites (TLS_AES_128_GCM_SHA256)");
    CHECK_STATUS(natsOptions_SetCiphers(o, "NO-SUCH-CIPHER"), NATS_SSL_ERROR,
                 "unknown cipher: NATS_SSL_ERROR");
    natsOptions_Destroy(o);

    /* Mutual TLS. */
    o = opts_for(tls_url("localhost", "NATS_MTLS_PORT"));
    natsOptions_SetSecure(o, true);
    natsOptions_LoadCATrustedCertificates(o, env("NATS_TLS_CA"));
    CHECK(try_connect(o, "mtls without cert") != NATS_OK, "mutual TLS without a certificate fails");

    o = opts_for(tls_url("localhost", "NATS_MTLS_PORT"));
    natsOptions_SetSecure(o, true);
    natsOptions_LoadCATrustedCertificates(o, env("NATS_TLS_CA"));
    CHECK_STATUS(natsOptions_LoadCertificatesChain(o, env("NATS_TLS_CERT"), env("NATS_TLS_KEY")),
                 NATS_OK, "LoadCertificatesChain");
    CHECK_STATUS(try_connect(o, "mtls files"), NATS_OK, "mutual TLS with certificate files");

    o = opts_for(tls_url("localhost", "NATS_MTLS_PORT"));
    natsOptions_SetSecure(o, true);
    natsOptions_LoadCATrustedCertificates(o, env("NATS_TLS_CA"));
    CHECK_STATUS(natsOptions_SetCertificatesChain(o, cert, key), NATS_OK, "SetCertificatesChain");
    CHECK_STATUS(try_connect(o, "mtls memory"), NATS_OK, "mutual TLS with certificates in memory");

#ifdef NATS_LIBNATS_RS
    /* Calls newer than nats.c 3.4.1. */
    o = opts_for(tls_url("localhost", "NATS_MTLS_PORT"));
    natsOptions_SetSecure(o, true);
    natsOptions_LoadCATrustedCertificates(o, env("NATS_TLS_CA"));
    CHECK_STATUS(natsOptions_LoadCertificatesChainDynamic(o, env("NATS_TLS_CERT"), env("NATS_TLS_KEY")),
                 NATS_OK, "LoadCertificatesChainDynamic");
    CHECK_STATUS(natsOptions_AllowConcurrentTLSHandshakes(o), NATS_OK,
                 "AllowConcurrentTLSHandshakes");
    CHECK_STATUS(try_connect(o, "mtls dynamic"), NATS_OK, "mutual TLS, files read at handshake");

    natsOptions_Create(&o);
    CHECK_STATUS(natsOptions_SetSSLVerificationCallback(o, NULL), NATS_OK,
                 "SetSSLVerificationCallback(NULL) accepted");
    CHECK_STATUS(natsOptions_SetSSLVerificationCallback(o, (natsSSLVerifyCb) (void (*)(void)) abort),
                 NATS_ILLEGAL_STATE, "an OpenSSL verification callback: NATS_ILLEGAL_STATE");
    CHECK(strstr(nats_GetLastError(NULL), "not supported") != NULL, "says it is not supported");
    CHECK_STATUS(natsOptions_TLSHandshakeFirst(o), NATS_OK, "TLSHandshakeFirst");
    {
        char dir[512];
        const char *ca_path = env("NATS_TLS_CA");
        const char *slash   = strrchr(ca_path, '/');
        snprintf(dir, sizeof(dir), "%.*s", (int) (slash - ca_path), ca_path);
        CHECK_STATUS(natsOptions_LoadCATrustedCertificatesPath(o, dir), NATS_OK,
                     "LoadCATrustedCertificatesPath");
    }
    natsOptions_Destroy(o);
#endif
    free(cert);
    free(key);
    free(ca);
}

static const char *
token_cb(void *closure)
{
    (void) closure;
    return "s3cr3t";
}

static natsStatus
sig_cb(char **customErrTxt, unsigned char **signature, int *signatureLength, const char *nonce,
       void *closure)
{
    (void) customErrTxt;
    return nats_Sign((const char *) closure, nonce, signature, signatureLength);
}

static natsStatus
jwt_cb(char **userJWT, char **customErrTxt, void *closure)
{
    (void) customErrTxt;
    *userJWT = strdup((const char *) closure);
    return NATS_OK;
}

static natsStatus
jwt_fail_cb(char **userJWT, char **customErrTxt, void *closure)
{
    (void) userJWT;
    (void) closure;
    *customErrTxt = strdup("no JWT today");
    return NATS_NOT_FOUND;
}

static void
auth_tests(void)
{
    natsOptions   *o;
    natsConnection *nc = NULL;
    unsigned char *sig = NULL;
    int            len = 0;
    unsigned char  csig[64];
    natsStatus     s;

    /* Tokens. */
    o = opts_for(env("NATS_TOKEN_URL"));
    natsOptions_SetToken(o, "s3cr3t");
    CHECK_STATUS(try_connect(o, "token"), NATS_OK, "token");
    o = opts_for(env("NATS_TOKEN_URL"));
    natsOptions_SetToken(o, "wrong");
    CHECK_STATUS(try_connect(o, "bad token"), NATS_CONNECTION_AUTH_FAILED,
                 "bad token: NATS_CONNECTION_AUTH_FAILED");
    o = opts_for(env("NATS_TOKEN_URL"));
    CHECK_STATUS(natsOptions_SetTokenHandler(o, token_cb, NULL), NATS_OK, "SetTokenHandler");
    CHECK_STATUS(natsOptions_SetToken(o, "x"), NATS_ILLEGAL_STATE,
                 "SetToken with a handler: NATS_ILLEGAL_STATE");
    CHECK_STATUS(try_connect(o, "token handler"), NATS_OK, "token from the handler");
    o = opts_for(env("NATS_TOKEN_URL"));
    natsOptions_SetToken(o, "s3cr3t");
    CHECK_STATUS(natsOptions_SetTokenHandler(o, token_cb, NULL), NATS_ILLEGAL_STATE,
                 "SetTokenHandler with a token: NATS_ILLEGAL_STATE");
    natsOptions_Destroy(o);

    /* NKeys. */
    o = opts_for(env("NATS_NKEY_URL"));
    CHECK_STATUS(natsOptions_SetNKeyFromSeed(o, env("NATS_NKEY_PUB"), env("NATS_NKEY_SEED_FILE")),
                 NATS_OK, "SetNKeyFromSeed");
    CHECK_STATUS(try_signed_connect(o, "nkey seed file"), NATS_OK, "NKey from a seed file");
    o = opts_for(env("NATS_NKEY_URL"));
    CHECK_STATUS(natsOptions_SetNKey(o, env("NATS_NKEY_PUB"), sig_cb, (void *) env("NATS_NKEY_SEED")),
                 NATS_OK, "SetNKey");
    CHECK_STATUS(try_signed_connect(o, "nkey callback"), NATS_OK, "NKey with a signature callback");
    o = opts_for(env("NATS_NKEY_URL"));
    CHECK_STATUS(natsOptions_SetNKey(o, env("NATS_NKEY_PUB"), NULL, NULL), NATS_INVALID_ARG,
                 "SetNKey without callback: NATS_INVALID_ARG");
    CHECK_STATUS(try_connect(o, "no nkey"), NATS_CONNECTION_AUTH_FAILED,
                 "no credentials: NATS_CONNECTION_AUTH_FAILED");

    /* nats_Sign. */
    CHECK_STATUS(nats_Sign(env("NATS_NKEY_SEED"), "data", &sig, &len), NATS_OK, "nats_Sign");
    CHECK(sig != NULL && len == 64, "nats_Sign gives 64 bytes");
    CHECK_STATUS(nats_Sign(NULL, "data", &sig, &len), NATS_INVALID_ARG, "nats_Sign(NULL seed)");

    /* User JWT (operator mode). */
    o = opts_for(env("NATS_JWT_URL"));
    CHECK_STATUS(natsOptions_SetUserCredentialsFromFiles(o, env("NATS_CREDS_FILE"), NULL), NATS_OK,
                 "SetUserCredentialsFromFiles");
    s = connect_signed(&nc, o, "credentials file");
    if (s != NATS_OK)
        fprintf(stderr, "credentials file: %d %s\n", s, nats_GetLastError(NULL));
    if (CHECK_STATUS(s, NATS_OK, "connect with a credentials file")) {
        unsigned char *jsig = NULL;
        int            jlen = 0;
        CHECK_STATUS(natsConnection_Sign(nc, (const unsigned char *) "data", 4, csig), NATS_OK,
                     "natsConnection_Sign");
        nats_Sign(env("NATS_JWT_SEED"), "data", &jsig, &jlen);
        CHECK(jsig != NULL && jlen == 64 && memcmp(jsig, csig, 64) == 0,
              "natsConnection_Sign == nats_Sign with the same seed");
        free(jsig);
        natsConnection_Destroy(nc);
        nc = NULL;
    }
    natsOptions_Destroy(o);
    o = opts_for(env("NATS_JWT_URL"));
    CHECK_STATUS(natsOptions_SetUserCredentialsCallbacks(o, jwt_cb, (void *) env("NATS_JWT"), sig_cb,
                                                         (void *) env("NATS_JWT_SEED")),
                 NATS_OK, "SetUserCredentialsCallbacks");
    CHECK_STATUS(try_signed_connect(o, "jwt callbacks"), NATS_OK, "user JWT from callbacks");
    o = opts_for(env("NATS_JWT_URL"));
    CHECK_STATUS(natsOptions_SetUserCredentialsCallbacks(o, jwt_cb, NULL, NULL, NULL),
                 NATS_INVALID_ARG, "JWT callback without signature callback: NATS_INVALID_ARG");
    natsOptions_SetUserCredentialsCallbacks(o, jwt_fail_cb, NULL, sig_cb, (void *) env("NATS_JWT_SEED"));
    CHECK_STATUS(try_connect(o, "jwt callback error"), NATS_NOT_FOUND,
                 "the JWT callback's status is returned");
    o = opts_for(env("NATS_JWT_URL"));
    CHECK_STATUS(natsOptions_SetUserCredentialsFromFiles(o, NULL, "seed"), NATS_INVALID_ARG,
                 "seed file without user file: NATS_INVALID_ARG");
    natsOptions_Destroy(o);
#ifdef NATS_LIBNATS_RS
    {
        char *creds = read_file(env("NATS_CREDS_FILE"));
        o = opts_for(env("NATS_JWT_URL"));
        CHECK_STATUS(natsOptions_SetUserCredentialsFromMemory(o, creds), NATS_OK,
                     "SetUserCredentialsFromMemory");
        CHECK_STATUS(try_signed_connect(o, "creds memory"), NATS_OK, "credentials from memory");
        free(creds);
    }
#endif
    free(sig);
}

int
main(void)
{
    tls_tests();
    auth_tests();
    nats_Close();
    HARNESS_END();
}
