#include "mkmaster/flash/event_printer.h"

#include <fmt/core.h>

#include "base/json.h"

namespace flash {

using base::json_escape;

namespace {
double total_seconds(const NodeResult& r) {
  double total = 0;
  for (const auto& s : r.steps) total += s.seconds;
  return total;
}

void put(const std::string& line, EventStyle style) {
  if (line.empty()) return;
  std::FILE* out = style == EventStyle::kHuman ? stderr : stdout;
  std::fputs(line.c_str(), out);
  std::fflush(out);
}
}  // namespace

std::string format_event(const NodeEvent& e, EventStyle style) {
  switch (style) {
    case EventStyle::kJson:
      return fmt::format("{{\"node\":\"{}\",\"step\":\"{}\",\"event\":\"{}\",\"seconds\":{:.3f},\"message\":\"{}\"}}\n",
                         json_escape(e.node), json_escape(e.step), e.event, e.seconds, json_escape(e.message));
    case EventStyle::kLava:
      // LAVA prints each output line of a flasher command on its own: one
      // line says node, step and outcome, in the words of a test result.
      if (e.event == "start") return fmt::format("mkmaster: {}: {}: start\n", e.node, e.step);
      if (e.event == "done") return fmt::format("mkmaster: {}: {}: pass ({:.1f} s)\n", e.node, e.step, e.seconds);
      if (e.event == "failed")
        return fmt::format("mkmaster: {}: {}: FAIL after {:.1f} s: {}\n", e.node, e.step, e.seconds, e.message);
      if (e.event == "interrupted")
        return fmt::format("mkmaster: {}: {}: interrupted by {} after {:.1f} s\n", e.node, e.step, e.message, e.seconds);
      return fmt::format("mkmaster: {}: {}: {}\n", e.node, e.step, e.message);
    case EventStyle::kHuman:
      break;
  }
  if (e.event == "done") return fmt::format("{}: {} done in {:.1f} s\n", e.node, e.step, e.seconds);
  if (e.event == "failed") return fmt::format("{}: {} FAILED after {:.1f} s\n", e.node, e.step, e.seconds);
  if (e.event == "progress") return fmt::format("{}: {}: {}\n", e.node, e.step, e.message);
  if (e.event == "interrupted")
    return fmt::format("{}: {} interrupted by {} after {:.1f} s: cleaning up (a second signal exits at once)\n", e.node,
                       e.step, e.message, e.seconds);
  if (e.event == "cleanup") return fmt::format("{}: cleanup {}: {}\n", e.node, e.step, e.message);
  return fmt::format("{}: {} ...\n", e.node, e.step);
}

std::string format_result(const NodeResult& r, EventStyle style) {
  const double total = total_seconds(r);
  switch (style) {
    case EventStyle::kJson:
      return fmt::format(
          "{{\"node\":\"{}\",\"result\":\"{}\",\"failed_step\":\"{}\",\"seconds\":{:.3f},\"message\":\"{}\"}}\n",
          json_escape(r.node), r.ok ? "pass" : "fail", json_escape(r.failed_step), total,
          json_escape(r.ok ? r.push.verify_message : r.error));
    case EventStyle::kLava:
      return r.ok ? fmt::format("mkmaster: {}: result: pass, flashed in {:.1f} s, verify {}\n", r.node, total,
                                r.push.verify_message)
                  : fmt::format("mkmaster: {}: result: FAIL in step {}\n", r.node, r.failed_step);
    case EventStyle::kHuman:
      break;
  }
  return r.ok ? fmt::format("{}: flashed in {:.1f} s ({})\n", r.node, total, r.push.verify_message) : "";
}

void print_event(const NodeEvent& e, EventStyle style) { put(format_event(e, style), style); }
void print_result(const NodeResult& r, EventStyle style) { put(format_result(r, style), style); }

}  // namespace flash
