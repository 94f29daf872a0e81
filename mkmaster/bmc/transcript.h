#pragma once
// The full, timestamped record of one node's console: every byte received
// (as lines, each stamped with the time its first byte arrived), every send
// and every event (connect, reconnect, probe). Secrets registered with
// add_secret() are replaced by "****" before anything is written, so a
// one-time agent secret never lands in a host file.
#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "base/unique_fd.h"

namespace bmc {

class Transcript {
 public:
  Transcript() = default;  // discards everything
  // Appends to path, created 0600 by open(2) itself: no umask change,
  // which other threads (other nodes' consoles) would share.
  explicit Transcript(const std::string& path);

  void add_secret(const std::string& secret);
  void received(std::string_view bytes);  // "< " lines
  void sent(std::string_view bytes);      // "> " one line per send, control chars escaped
  void event(const std::string& text);    // "# " lines
  void flush();                           // writes a pending partial received line
  std::string mask(std::string text) const;

 private:
  void write_line(char kind, const std::string& text, std::chrono::system_clock::time_point when);

  std::mutex mu_;
  base::UniqueFd out_;
  std::vector<std::string> secrets_;
  std::string partial_;
  std::chrono::system_clock::time_point partial_start_{};
};

// "2024-05-01T12:00:00.123Z"
std::string iso_timestamp(std::chrono::system_clock::time_point t);
// Visible form of control characters: "\r" -> "\\r", 0x15 -> "^U".
std::string escape_control(std::string_view bytes);

}  // namespace bmc
