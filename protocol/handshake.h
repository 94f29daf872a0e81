#pragma once
// The versioned, mutually authenticated handshake (docs/protocol.md,
// "Handshake"): HELLO → CHALLENGE → AUTH → AUTH_OK. Until it completes the
// channel only accepts handshake frames of at most kMaxPayloadUnauthenticated
// bytes; anything else is refused with kNotAuthenticated.
#include <span>
#include <string>

#include "protocol/auth.h"
#include "protocol/channel.h"

namespace mkproto {

struct HandshakeResult {
  uint16_t version = 0;
  std::string peer;  // the peer's software name/version
};

// Host side. Throws ProtocolError (kAuthFailed when the agent rejects us or
// cannot prove it knows the secret; kBadVersion when no version is common).
HandshakeResult client_handshake(Channel& ch, const Key& key, const std::string& client_name);

// Agent side. On failure sends an ERROR frame with the specific code (best
// effort) and throws ProtocolError. Raises the channel's payload limit to
// kMaxPayload only after success.
HandshakeResult server_handshake(Channel& ch, const Key& key, const std::string& agent_name);
// Agent side, accepting any of `keys` (the node's own key first, then a relay
// hop key: docs/protocol.md, "Relay"); `which` tells the index of the key the
// host proved. Each proof is checked in constant time.
HandshakeResult server_handshake(Channel& ch, std::span<const Key> keys, const std::string& agent_name, size_t& which);

}  // namespace mkproto
