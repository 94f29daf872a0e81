#include "mkmaster/bmc/transcript.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <cerrno>

#include <ctime>

#include "mkmaster/bmc/command_template.h"

namespace bmc {

std::string iso_timestamp(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03}Z", buf, ms % 1000);
}

std::string escape_control(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n";
    else if (c == 0x1b)
      out += "\\e";
    else if (c < 0x20)
      out += fmt::format("^{}", static_cast<char>(c + '@'));
    else if (c == 0x7f)
      out += "^?";
    else
      out.push_back(static_cast<char>(c));
  }
  return out;
}

Transcript::Transcript(const std::string& path)
    // Transcripts hold what the node printed; keep them private to the user.
    : out_(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)) {}

void Transcript::add_secret(const std::string& secret) {
  std::lock_guard lock(mu_);
  secrets_.push_back(secret);
}

std::string Transcript::mask(std::string text) const { return mask_secrets(std::move(text), secrets_); }

void Transcript::write_line(char kind, const std::string& text, std::chrono::system_clock::time_point when) {
  if (!out_) return;
  const std::string line = fmt::format("{} {} {}\n", iso_timestamp(when), kind, mask(text));
  // One write per line (O_APPEND): a line is never split by another writer.
  for (std::string_view rest = line; !rest.empty();) {
    const ssize_t n = ::write(out_.get(), rest.data(), rest.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // a full disk loses transcript lines, not the flash
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

void Transcript::received(std::string_view bytes) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::system_clock::now();
  for (char c : bytes) {
    if (partial_.empty()) partial_start_ = now;
    if (c == '\n') {
      if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
      write_line('<', escape_control(partial_), partial_start_);
      partial_.clear();
    } else {
      partial_.push_back(c);
    }
  }
}

void Transcript::sent(std::string_view bytes) {
  std::lock_guard lock(mu_);
  write_line('>', escape_control(bytes), std::chrono::system_clock::now());
}

void Transcript::event(const std::string& text) {
  std::lock_guard lock(mu_);
  write_line('#', text, std::chrono::system_clock::now());
}

void Transcript::flush() {
  std::lock_guard lock(mu_);
  if (partial_.empty()) return;
  write_line('<', escape_control(partial_), partial_start_);
  partial_.clear();
}

}  // namespace bmc
