/* Kept so that `#include <nats/status.h>` works as with nats.c: the status
 * codes (natsStatus, natsConnStatus) are declared in nats/nats.h. */
#include "nats.h"
