#include "mkmaster/push/relay_printer.h"

#include <unistd.h>

#include <fmt/core.h>

#include "base/json.h"

namespace push {

using base::json_escape;

RelayPrinter::RelayPrinter(bool json, size_t nodes, std::FILE* out)
    : json_(json), tty_(::isatty(STDERR_FILENO) != 0), out_(out), last_(nodes) {}

void RelayPrinter::operator()(size_t node, const Progress& p) {
  std::lock_guard lock(m_);
  const auto now = std::chrono::steady_clock::now();
  if (node >= last_.size() || now - last_[node] < std::chrono::seconds(1)) return;  // a line per node per second
  last_[node] = now;
  if (json_) {
    fmt::print(out_, "{{\"event\":\"progress\",\"node\":{},\"position\":{},\"durable\":{},\"image_size\":{},\"seconds\":{:.3f}}}\n",
               node, p.position, p.acked, p.image_size, p.seconds);
    std::fflush(out_);
  } else if (tty_) {
    const double pct = p.image_size ? 100.0 * static_cast<double>(p.position) / static_cast<double>(p.image_size) : 0;
    fmt::print(stderr, "node {}: {:5.1f} %  {} bytes, {:.1f} MB/s\n", node, pct, p.position,
               p.seconds > 0 ? static_cast<double>(p.position) / 1e6 / p.seconds : 0.0);
  }
}

int RelayPrinter::exit_status(const RelayResult& r) {
  const size_t failed = r.failed();
  if (failed == 0) return 0;
  return failed == r.nodes.size() ? 1 : kExitSomeNodesFailed;
}

void RelayPrinter::summary(const RelayResult& r) {
  const char* fanout = r.fanout == Fanout::kChain ? "chain" : "star";
  if (json_) {
    for (size_t i = 0; i < r.nodes.size(); ++i) {
      const RelayNodeResult& n = r.nodes[i];
      fmt::print(out_,
                 "{{\"event\":\"node\",\"node\":{},\"name\":\"{}\",\"agent\":\"{}\",\"ok\":{},\"head\":{},\"bytes\":{},"
                 "\"seconds\":{:.3f},\"mb_per_s\":{:.1f},\"verified\":{},\"verify\":\"{}\",\"hop_reconnects\":{},"
                 "\"step\":\"{}\",\"error\":\"{}\"}}\n",
                 i, json_escape(n.name), json_escape(n.agent), n.ok, n.head, n.bytes, n.seconds, n.mb_per_s(),
                 n.verified, json_escape(n.verify_message), n.hop_reconnects, json_escape(n.step), json_escape(n.error));
    }
    fmt::print(out_,
               "{{\"event\":\"summary\",\"fanout\":\"{}\",\"nodes\":{},\"failed\":{},\"image_size\":{},"
               "\"host_bytes_sent\":{},\"seconds\":{:.3f}}}\n",
               fanout, r.nodes.size(), r.failed(), r.image_size, r.host_bytes_sent, r.seconds);
    std::fflush(out_);
    return;
  }
  fmt::print(out_, "pushed {} bytes to {} nodes ({}): {} ok, {} failed, host sent {} bytes, {:.2f} s\n", r.image_size,
             r.nodes.size(), fanout, r.nodes.size() - r.failed(), r.failed(), r.host_bytes_sent, r.seconds);
  for (const RelayNodeResult& n : r.nodes) {
    if (n.ok)
      fmt::print(out_, "  {:<20} ok      {} bytes, {:.1f} MB/s, {:.2f} s, verify {}{}\n", n.name, n.bytes, n.mb_per_s(),
                 n.seconds, n.verify_message, n.hop_reconnects ? fmt::format(", {} hop reconnects", n.hop_reconnects) : "");
    else
      fmt::print(out_, "  {:<20} FAILED  at {}: {}\n", n.name, n.step, n.error);
  }
}

}  // namespace push
