#pragma once
// One node's run of the pipeline: its log file, its events and the step
// bookkeeping. step() times a named step, logs it, and re-throws a failure
// as StepFailed naming node and step. Every line and event has the
// registered secrets masked.
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "mkmaster/flash/flash.h"

namespace flash {

struct StepFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// SIGINT/SIGTERM arrived before or during a step (base/interrupt.h).
struct StepInterrupted : StepFailed {
  StepInterrupted(const std::string& what, int sig) : StepFailed(what), signal(sig) {}
  int signal;
};

class StepRunner {
 public:
  // Appends to <log_dir>/<node>.log (created 0600). `event_mu` serialises
  // on_event across the nodes that run at once.
  StepRunner(std::string node, const FlashOptions& options, std::mutex& event_mu, NodeResult& result);

  // Throws StepFailed, or StepInterrupted if a signal came before the step
  // or while it ran.
  void step(const std::string& name, const std::function<void()>& fn);
  // After a node's last step: a signal that came while that step's command
  // ran to its end was noticed by no later step, so it is reported now
  // (StepInterrupted, naming that step), and mkmaster still exits 128+signal.
  void after_last_step();
  // One action of the cleanup after an interrupt: logged and reported
  // ("cleanup" events), never throws; returns whether it worked.
  bool cleanup(const std::string& action, const std::function<void()>& fn);
  // A progress line of the current step.
  void progress(const std::string& text);
  void log(const std::string& line);
  void add_secret(const std::string& s);
  std::string mask(std::string text) const;

 private:
  void emit(const std::string& step, const std::string& event, double seconds, const std::string& message);
  [[noreturn]] void interrupted(const std::string& step, double seconds, int sig);

  std::string node_;
  const FlashOptions& opt_;
  std::mutex& event_mu_;
  NodeResult& result_;
  std::mutex log_mu_;
  std::ofstream log_;
  std::string current_;
  std::vector<std::string> secrets_;
};

}  // namespace flash
