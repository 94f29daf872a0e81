#pragma once
// The agent's TCP server: accepts connections and serves each on its own
// thread (a reconnecting host can take a session over from a half-dead
// connection). Admission (admission.h) keeps unauthenticated peers from
// locking the host out. Usable in-process by tests.
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "target-agent/admission.h"
#include "target-agent/connection.h"
#include "target-agent/relay.h"
#include "target-agent/session.h"
#include "target-agent/target.h"

namespace agent {

class Server {
 public:
  explicit Server(AgentConfig cfg);
  ~Server();
  // "ADDR:PORT" actually bound (port 0 in the config picks a free one).
  std::string address() const { return address_; }
  // Serves until stop(), or until a host revokes the secret (BYE revoke);
  // blocks. At the end every connection is shut down and waited for, at
  // most cfg.stop_timeout: a connection thread still stuck then (in the
  // kernel: a disk that does not answer) is left running on state it
  // shares, so the Server may go; run() reports how many.
  void run();
  // Runs in a background thread (tests).
  void start();
  void stop();
  // A host sent BYE with revoke: run() has returned or is returning, and
  // the secret is forgotten.
  bool revoked() const { return st_->revoked; }
  const Admission& admission() const { return st_->admission; }
  // Connection threads that had not ended when run() stopped waiting.
  int left_running() const { return left_running_; }

 private:
  // What connection threads use. Each holds a reference, so one that
  // outlives run() (and the Server) never touches freed memory.
  struct State {
    explicit State(AgentConfig c);
    void log_refusal(const std::string& line);
    AgentConfig cfg;
    Sessions sessions;
    Relay relay{cfg};  // after sessions: its forwarder holds a session
    Admission admission;
    RateLimitedLog refusals;
    std::atomic<bool> stop{false};
    std::atomic<bool> revoked{false};
    std::mutex m;
    std::condition_variable ended;
    int active = 0;  // guarded by m
  };

  std::shared_ptr<State> st_;
  int listen_fd_ = -1;
  std::string address_;
  int left_running_ = 0;
  std::thread thread_;
};

}  // namespace agent
