/* Deprecated location kept for compatibility with nats.c: use <nats/nats.h>. */
#include "nats/nats.h"
