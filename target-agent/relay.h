#pragma once
// The agent's relay state (docs/protocol.md, "Relay"), one per server: the
// hop key the host issued for the one upstream relay connection it may
// accept, the downstream it forwards to, and the forwarder of the relayed
// session. Control connections (the node's own secret) change it with
// RELAY_ACCEPT / RELAY_CONNECT and read it for RELAY_STATUS.
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "protocol/auth.h"
#include "protocol/channel.h"
#include "protocol/messages.h"
#include "target-agent/relay_forwarder.h"
#include "target-agent/session.h"
#include "target-agent/target.h"

namespace agent {

class Relay {
 public:
  explicit Relay(const AgentConfig& cfg) : cfg_(cfg) {}
  ~Relay();

  // RELAY_ACCEPT: replaces the hop key; the relay connection of an earlier
  // key is shut down at once.
  void accept(const mkproto::RelayAccept& m);
  // RELAY_CONNECT: replaces the downstream (empty address: none).
  void connect(const mkproto::RelayConnect& m);

  // The hop key a relay connection may authenticate with now, and its
  // generation (to tell a connection of a replaced key).
  std::optional<mkproto::Key> hop_key(uint64_t& generation) const;
  // A relay connection authenticated with the key of `generation`: false if
  // that key was replaced meanwhile (the connection must close).
  bool enter(mkproto::Channel* ch, uint64_t generation);
  void leave(mkproto::Channel* ch);
  // May a relay connection OPEN this session?
  bool relay_session(const mkproto::SessionId& id) const;

  // A connection opened session `s`: its forwarder when this node forwards
  // that session, else null. Created at the first OPEN, kept across
  // connections (an upstream that reconnects feeds the same forwarder).
  std::shared_ptr<Forwarder> on_open(const std::shared_ptr<Session>& s, Sessions& sessions);

  mkproto::RelayStatus status(Sessions& sessions) const;

 private:
  std::shared_ptr<Forwarder> make_forwarder();  // under m_

  const AgentConfig& cfg_;
  mutable std::mutex m_;
  std::optional<mkproto::SessionId> accept_session_;
  mkproto::HopKey accept_key_{};
  bool accepting_ = false;
  uint64_t key_generation_ = 0;
  struct Upstream {
    mkproto::Channel* ch;
    uint64_t generation;
  };
  std::vector<Upstream> upstreams_;
  std::optional<mkproto::SessionId> down_session_;
  std::optional<Downstream> down_;
  std::shared_ptr<Session> session_;  // the relayed session once opened here
  std::shared_ptr<Forwarder> forwarder_;
};

}  // namespace agent
