#pragma once
// The chain's stream-image round: one relay push (FlashOptions::push_relay)
// through the nodes whose agents listen, in order, while each node's own
// stream-image step waits for its outcome — so each node still logs, times
// and reports the step as it does alone, and a node cut out of the chain
// fails that step with the relay's reason while the others go on.
#include <string>
#include <vector>

#include "mkmaster/flash/node_run.h"

namespace flash {

// Returns one message per node ("" = its stream-image step passed), as
// base::for_each_bounded does. A StepInterrupted of a node has already
// been cleaned up (guarded).
std::vector<std::string> relay_round(const std::vector<NodeRun*>& nodes, const RelayPushFn& push_relay);

}  // namespace flash
