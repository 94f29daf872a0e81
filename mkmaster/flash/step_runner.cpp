#include "mkmaster/flash/step_runner.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>

#include "mkmaster/bmc/command_template.h"
#include "mkmaster/bmc/transcript.h"

namespace flash {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
}  // namespace

StepRunner::StepRunner(std::string node, const FlashOptions& options, std::mutex& event_mu, NodeResult& result)
    : node_(std::move(node)), opt_(options), event_mu_(event_mu), result_(result) {
  fs::create_directories(opt_.log_dir);
  // The log names commands and hosts of the lab: not for other users. Made
  // 0600 by open(2), not by umask, which other node threads share.
  const fs::path path = fs::path(opt_.log_dir) / (node_ + ".log");
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);
  log_.open(path, std::ios::app);
  if (!log_) throw std::runtime_error(fmt::format("cannot open the log {}/{}.log", opt_.log_dir, node_));
}

void StepRunner::log(const std::string& line) {
  std::lock_guard lock(log_mu_);
  log_ << bmc::iso_timestamp(std::chrono::system_clock::now()) << ' ' << mask(line) << '\n';
  log_.flush();
}

void StepRunner::emit(const std::string& step, const std::string& event, double seconds, const std::string& message) {
  if (!opt_.on_event) return;
  std::lock_guard lock(event_mu_);
  opt_.on_event(NodeEvent{node_, step, event, seconds, mask(message)});
}

void StepRunner::step(const std::string& name, const std::function<void()>& fn) {
  current_ = name;
  const auto start = Clock::now();
  log(fmt::format("step {}: start", name));
  emit(name, "start", 0, "");
  try {
    fn();
  } catch (const std::exception& e) {
    const double s = seconds_since(start);
    log(fmt::format("step {}: FAILED after {:.1f} s: {}", name, s, e.what()));
    emit(name, "failed", s, e.what());
    result_.failed_step = name;
    throw StepFailed(fmt::format("{}: step {} failed after {:.1f} s: {}", node_, name, s, mask(e.what())));
  }
  const double s = seconds_since(start);
  result_.steps.push_back({name, s});
  log(fmt::format("step {}: done in {:.1f} s", name, s));
  emit(name, "done", s, "");
}

void StepRunner::progress(const std::string& text) {
  log(fmt::format("step {}: {}", current_, text));
  emit(current_, "progress", 0, text);
}

void StepRunner::add_secret(const std::string& s) {
  if (!s.empty()) secrets_.push_back(s);
}

std::string StepRunner::mask(std::string text) const { return bmc::mask_secrets(std::move(text), secrets_); }

}  // namespace flash
