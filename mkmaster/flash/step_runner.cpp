#include "mkmaster/flash/step_runner.h"

#include <fcntl.h>
#include <fmt/core.h>
#include <unistd.h>

#include <filesystem>

#include "base/interrupt.h"
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

void StepRunner::interrupted(const std::string& step, double s, int sig) {
  const char* name = base::signal_name(sig);
  log(fmt::format("step {}: INTERRUPTED by {} after {:.1f} s", step, name, s));
  emit(step, "interrupted", s, name);
  result_.failed_step = step;
  result_.interrupted = sig;
  throw StepInterrupted(fmt::format("{}: interrupted by {} in step {} after {:.1f} s", node_, name, step, s), sig);
}

void StepRunner::step(const std::string& name, const std::function<void()>& fn) {
  current_ = name;
  if (const int sig = base::interrupt_signal()) interrupted(name, 0, sig);
  const auto start = Clock::now();
  log(fmt::format("step {}: start", name));
  emit(name, "start", 0, "");
  try {
    fn();
  } catch (const base::Interrupted& i) {
    interrupted(name, seconds_since(start), i.signal);
  } catch (const std::exception& e) {
    const double s = seconds_since(start);
    // A step that failed because of the signal (a child it waited for was
    // signalled too) was interrupted, not broken.
    if (const int sig = base::interrupt_signal()) interrupted(name, s, sig);
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

void StepRunner::after_last_step() {
  if (const int sig = base::interrupt_signal()) {
    const double s = result_.steps.empty() ? 0 : result_.steps.back().seconds;
    interrupted(current_, s, sig);
  }
}

bool StepRunner::cleanup(const std::string& action, const std::function<void()>& fn) {
  const auto start = Clock::now();
  try {
    fn();
  } catch (const std::exception& e) {
    const double s = seconds_since(start);
    log(fmt::format("cleanup {}: FAILED after {:.1f} s: {}", action, s, e.what()));
    emit(action, "cleanup", s, fmt::format("failed: {}", e.what()));
    return false;
  } catch (const base::Interrupted&) {
    // A cleanup action does not wait for signals; should one still ask, it
    // did not finish.
    log(fmt::format("cleanup {}: interrupted", action));
    return false;
  }
  const double s = seconds_since(start);
  log(fmt::format("cleanup {}: done in {:.1f} s", action, s));
  emit(action, "cleanup", s, "done");
  return true;
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
