#include "mkmaster/push/progress.h"

#include <unistd.h>

#include <fmt/core.h>

#include "base/json.h"

namespace push {

using base::json_escape;

ProgressPrinter::ProgressPrinter(bool json, std::FILE* out) : json_(json), tty_(::isatty(2) != 0), out_(out) {}

namespace {
const char* kind_name(Progress::Kind k) {
  switch (k) {
    case Progress::Kind::kStart: return "start";
    case Progress::Kind::kProgress: return "progress";
    case Progress::Kind::kReconnect: return "reconnect";
    case Progress::Kind::kVerify: return "verify";
    case Progress::Kind::kDone: return "done";
  }
  return "?";
}
}  // namespace

void ProgressPrinter::operator()(const Progress& p) {
  double mbps = p.seconds > 0 ? p.position / 1e6 / p.seconds : 0;
  double eta = mbps > 0 && p.image_size > p.position ? (p.image_size - p.position) / 1e6 / mbps : 0;
  if (json_) {
    fmt::print(out_,
               "{{\"event\":\"{}\",\"position\":{},\"image_size\":{},\"bytes_sent\":{},\"acked\":{},\"seconds\":{:.3f},"
               "\"mb_per_s\":{:.1f},\"eta_s\":{:.1f},\"message\":\"{}\"}}\n",
               kind_name(p.kind), p.position, p.image_size, p.bytes_sent, p.acked, p.seconds, mbps, eta,
               json_escape(p.message));
    std::fflush(out_);
    return;
  }
  if (p.kind == Progress::Kind::kReconnect) {
    fmt::print(stderr, "{}reconnecting after: {}\n", bar_shown_ ? "\n" : "", p.message);
    bar_shown_ = false;
    return;
  }
  if (!tty_ || p.kind != Progress::Kind::kProgress) return;
  if (p.image_size == 0) {  // not known before the image ends: no bar, no ETA
    fmt::print(stderr, "\r{:>7.1f} MB of an image of unknown size {:>7.1f} MB/s  sent {:.1f} MB", p.position / 1e6,
               mbps, p.bytes_sent / 1e6);
    bar_shown_ = true;
    return;
  }
  const int width = 30;
  int filled = p.image_size ? static_cast<int>(width * p.position / p.image_size) : width;
  fmt::print(stderr, "\r[{}{}] {:>7.1f}/{:.1f} MB {:>7.1f} MB/s ETA {:>4.0f}s  sent {:.1f} MB", std::string(filled, '#'),
             std::string(width - filled, '.'), p.position / 1e6, p.image_size / 1e6, mbps, eta, p.bytes_sent / 1e6);
  bar_shown_ = true;
}

void ProgressPrinter::summary(const PushResult& r) {
  if (bar_shown_) fmt::print(stderr, "\n");
  std::string repaired_json, repaired_text;
  for (const auto& [a, b] : r.repaired) {
    repaired_json += fmt::format("{}[{},{}]", repaired_json.empty() ? "" : ",", a, b);
    repaired_text += fmt::format("{}[{}, {})", repaired_text.empty() ? "" : " ", a, b);
  }
  if (json_) {
    fmt::print(out_,
               "{{\"event\":\"summary\",\"target\":\"{}\",\"image_size\":{},\"bytes_sent\":{},\"wire_bytes\":{},"
               "\"data_bytes\":{},\"hole_bytes\":{},\"kept_bytes\":{},\"reconnects\":{},\"seconds\":{:.3f},"
               "\"mb_per_s\":{:.1f},\"phases_s\":{{\"stream\":{:.3f},\"hash_wait\":{:.3f},\"finish\":{:.3f},"
               "\"verify\":{:.3f}}},\"verified\":{},\"verify\":\"{}\",\"repaired\":[{}],\"repair_rounds\":{},"
               "\"repair_bytes_sent\":{},\"index\":\"{}\",\"index_bytes\":{},\"http_range_bytes\":{},"
               "\"http_range_requests\":{}}}\n",
               json_escape(r.target), r.image_size, r.bytes_sent, r.wire_bytes, r.data_bytes, r.hole_bytes,
               r.kept_bytes, r.reconnects, r.seconds, r.mb_per_s(), r.stream_seconds, r.hash_wait_seconds,
               r.finish_seconds, r.verify_seconds, r.verified ? "true" : "false", json_escape(r.verify_message),
               repaired_json, r.repair_rounds, r.repair_bytes_sent, json_escape(r.index_note), r.index_bytes,
               r.http_range_bytes, r.http_range_requests);
    std::fflush(out_);
    return;
  }
  fmt::print(out_,
             "pushed to {}\n  image size   {} bytes\n  bytes sent   {} (wire {})\n  holes        {} bytes not sent\n"
             "  unchanged    {} bytes (delta)\n  reconnects   {}\n  time         {:.2f} s, {:.1f} MB/s"
             " (stream {:.2f} s of which {:.2f} s waiting for delta hashes, sync {:.2f} s, verify {:.2f} s)\n"
             "  verify       {}\n",
             r.target, r.image_size, r.bytes_sent, r.wire_bytes, r.hole_bytes, r.kept_bytes, r.reconnects, r.seconds,
             r.mb_per_s(), r.stream_seconds, r.hash_wait_seconds, r.finish_seconds, r.verify_seconds, r.verify_message);
  if (!r.index_note.empty()) fmt::print(out_, "  {}\n", r.index_note);
  if (!r.repaired.empty())
    fmt::print(out_, "  repaired     {} ({} bytes re-sent in {} round{})\n", repaired_text, r.repair_bytes_sent,
               r.repair_rounds, r.repair_rounds == 1 ? "" : "s");
}

void ProgressPrinter::failure(const std::string& what) {
  if (bar_shown_) fmt::print(stderr, "\n");
  if (json_) {
    fmt::print(out_, "{{\"event\":\"error\",\"message\":\"{}\"}}\n", json_escape(what));
    std::fflush(out_);
  }
}

}  // namespace push
