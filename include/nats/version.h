/* Kept so that `#include <nats/version.h>` works as with nats.c: the
 * NATS_VERSION_* macros are defined in nats/nats.h. */
#include "nats.h"
