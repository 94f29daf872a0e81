#include "target-agent/admission.h"

#include <sys/socket.h>

#include <fmt/core.h>

#include <algorithm>

namespace agent {

Admission::Admission(size_t max_preauth, size_t max_authenticated, std::chrono::milliseconds handshake_timeout)
    : max_preauth_(std::max<size_t>(max_preauth, 1)), max_auth_(max_authenticated), handshake_timeout_(handshake_timeout) {}

uint64_t Admission::enter(int fd, Clock::time_point now, bool& evicted) {
  std::lock_guard lock(m_);
  evicted = false;
  while (preauth_.size() >= max_preauth_) {
    ::shutdown(preauth_.front().fd, SHUT_RDWR);
    preauth_.pop_front();
    evicted = true;
  }
  preauth_.push_back({next_, fd, now});
  return next_++;
}

bool Admission::authenticate(uint64_t ticket, std::string& why) {
  std::lock_guard lock(m_);
  auto it = std::find_if(preauth_.begin(), preauth_.end(), [&](const Entry& e) { return e.ticket == ticket; });
  if (it == preauth_.end()) {
    why = "the connection was cut before its handshake completed (deadline, or evicted by newer connections)";
    return false;
  }
  if (auth_.size() >= max_auth_) {
    why = fmt::format("{} authenticated connections are already being served", auth_.size());
    return false;
  }
  auth_.splice(auth_.end(), preauth_, it);
  return true;
}

void Admission::leave(uint64_t ticket) {
  std::lock_guard lock(m_);
  auto is = [&](const Entry& e) { return e.ticket == ticket; };
  preauth_.remove_if(is);
  auth_.remove_if(is);
}

size_t Admission::expire(Clock::time_point now) {
  std::lock_guard lock(m_);
  size_t n = 0;
  while (!preauth_.empty() && now - preauth_.front().since >= handshake_timeout_) {
    ::shutdown(preauth_.front().fd, SHUT_RDWR);
    preauth_.pop_front();
    ++n;
  }
  return n;
}

void Admission::shutdown_all() {
  std::lock_guard lock(m_);
  for (auto& e : preauth_) ::shutdown(e.fd, SHUT_RDWR);
  for (auto& e : auth_) ::shutdown(e.fd, SHUT_RDWR);
}

size_t Admission::preauth() const {
  std::lock_guard lock(m_);
  return preauth_.size();
}
size_t Admission::authenticated() const {
  std::lock_guard lock(m_);
  return auth_.size();
}

std::string RateLimitedLog::admit(const std::string& line, Clock::time_point now) {
  std::lock_guard lock(m_);
  if (in_window_ == 0 || now - window_start_ >= window_) {
    window_start_ = now;
    in_window_ = 0;
  }
  if (in_window_ >= burst_) {
    ++suppressed_;
    return "";
  }
  ++in_window_;
  if (suppressed_ == 0) return line;
  std::string out = fmt::format("{} ({} similar lines suppressed before this one)", line, suppressed_);
  suppressed_ = 0;
  return out;
}

}  // namespace agent
