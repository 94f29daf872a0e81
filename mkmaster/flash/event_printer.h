#pragma once
// How `mkmaster push NODE…` reports the pipeline's step events and each
// node's outcome: for a person (stderr), as JSON lines (--json, stdout) or
// as plain lines for a LAVA job log (--lava, stdout), where every line says
// node, step and result and a failure names the step that failed.
#include <cstdio>
#include <string>

#include "mkmaster/flash/flash.h"

namespace flash {

enum class EventStyle { kHuman, kJson, kLava };

// One line (or none) for an event.
std::string format_event(const NodeEvent& event, EventStyle style);
// The node's closing line: what it cost, or what failed where.
std::string format_result(const NodeResult& result, EventStyle style);

// Writes format_*() to stdout (json, lava) or stderr (human), flushed so a
// LAVA log shows each step as it happens.
void print_event(const NodeEvent& event, EventStyle style);
void print_result(const NodeResult& result, EventStyle style);

}  // namespace flash
