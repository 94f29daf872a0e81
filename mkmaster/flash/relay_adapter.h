#pragma once
// The pipeline's relay (FlashOptions::push_relay) over the push layer's
// multi-node entry (push::push_relay, mkmaster/push/relay_push.h): the
// nodes' own options become RelayOptions — the first node's for what all
// share (image, target, .bmap, verify, retries …), each node's agent
// address and one-time key — and each node's progress callback gets that
// node's reports; each RelayNodeResult becomes the node's outcome, its
// error prefixed with the relay's step (connect, relay, stream, verify).
#include <functional>

#include "mkmaster/flash/flash.h"
#include "mkmaster/push/relay_push.h"

namespace flash {

using RelayEntry = std::function<push::RelayResult(const push::RelayOptions&)>;

// `entry` is push::push_relay in mkmaster; tests pass a fake.
RelayPushFn relay_push_fn(RelayEntry entry);

}  // namespace flash
