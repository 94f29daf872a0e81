#include "mkmaster/bmc/transcript.h"

#include <fmt/core.h>
#include <sys/stat.h>

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

Transcript::Transcript(const std::string& path) {
  // Transcripts hold what the node printed; keep them private to the user.
  const mode_t old = ::umask(077);
  out_.open(path, std::ios::app);
  ::umask(old);
}

void Transcript::add_secret(const std::string& secret) {
  std::lock_guard lock(mu_);
  secrets_.push_back(secret);
}

std::string Transcript::mask(std::string text) const { return mask_secrets(std::move(text), secrets_); }

void Transcript::write_line(char kind, const std::string& text, std::chrono::system_clock::time_point when) {
  if (!out_.is_open()) return;
  out_ << iso_timestamp(when) << ' ' << kind << ' ' << mask(text) << '\n';
  out_.flush();
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
