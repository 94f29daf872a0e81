#pragma once
// The agent's TCP server: accepts connections and serves each on its own
// thread (a reconnecting host can take a session over from a half-dead
// connection). Admission (admission.h) keeps unauthenticated peers from
// locking the host out. Usable in-process by tests.
#include <atomic>
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
  // blocks.
  void run();
  // Runs in a background thread (tests).
  void start();
  void stop();
  // A host sent BYE with revoke: run() has returned or is returning, and
  // the secret is forgotten.
  bool revoked() const { return revoked_; }
  const Admission& admission() const { return admission_; }

 private:
  void log_refusal(const std::string& line);

  AgentConfig cfg_;
  Sessions sessions_;
  Relay relay_{cfg_};  // after sessions_: its forwarder holds a session
  Admission admission_;
  RateLimitedLog refusals_;
  int listen_fd_ = -1;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> revoked_{false};
  std::atomic<int> active_{0};
  std::thread thread_;
};

}  // namespace agent
