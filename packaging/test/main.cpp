// C++ smoke test of an installed libnats-rs (tests/install.rs builds it with
// g++ -std=c++11 -Wall -Wextra -Werror -pedantic). It checks that every header
// nats.c installs can be included, together, from C++, and that the C
// callback typedefs accept C++ lambdas. No server is needed.
#include <nats/nats.h>
#include <nats.h>
#include <nats/status.h>
#include <nats/version.h>

#include <cstdio>
#include <cstring>
#include <string>

#ifndef NATS_LIBNATS_RS
#error "<nats/nats.h> is not libnats-rs's header"
#endif

namespace {

int passed = 0;
int failed = 0;

void check(bool ok, const char *what, int line)
{
    if (ok)
        passed++;
    else
    {
        failed++;
        std::printf("FAILED main.cpp:%d: %s\n", line, what);
    }
}

#define CHECK(cond) check((cond), #cond, __LINE__)

// A named handler with C++ linkage, used through the C typedef.
void countMessage(natsConnection *, natsSubscription *, natsMsg *msg, void *closure)
{
    static_cast<std::string *>(closure)->append(natsMsg_GetData(msg));
    natsMsg_Destroy(msg);
}

} // namespace

int main()
{
    CHECK(nats_CheckCompatibility());
    CHECK(nats_Open(-1) == NATS_OK);
    CHECK(std::string(nats_GetVersion()) == NATS_VERSION_STRING);
    CHECK(NATS_VERSION_MAJOR == 3 && NATS_VERSION_MINOR == 14);

    natsStatus s = NATS_INVALID_ARG;
    CHECK(std::string(natsStatus_GetText(s)) == "Invalid Argument");

    // A lambda without captures converts to the C function pointer type.
    int calls = 0;
    natsMsgHandler onMsg = [](natsConnection *, natsSubscription *, natsMsg *msg, void *closure) {
        ++*static_cast<int *>(closure);
        natsMsg_Destroy(msg);
    };
    natsMsg *msg = nullptr;
    CHECK(natsMsg_Create(&msg, "cpp.subject", nullptr, "hi", 2) == NATS_OK);
    onMsg(nullptr, nullptr, msg, &calls);
    CHECK(calls == 1);

    std::string seen;
    natsMsgHandler named = countMessage;
    msg = nullptr;
    CHECK(natsMsg_Create(&msg, "cpp.subject", nullptr, "payload", 7) == NATS_OK);
    named(nullptr, nullptr, msg, &seen);
    CHECK(seen == "payload");

    // The handler types fit the API; no connection: rejected before any I/O.
    natsSubscription *sub = nullptr;
    CHECK(natsConnection_Subscribe(&sub, nullptr, "cpp.subject", onMsg, &calls) ==
          NATS_INVALID_ARG);
    CHECK(sub == nullptr);

    natsInbox *inbox = nullptr;
    CHECK(natsInbox_Create(&inbox) == NATS_OK);
    CHECK(inbox != nullptr && std::strncmp(inbox, "_INBOX.", 7) == 0);
    natsInbox_Destroy(inbox);

    nats_Close();

    std::printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
