#pragma once
// The versioned, mutually authenticated handshake (docs/protocol.md,
// "Handshake"): HELLO → CHALLENGE → AUTH → AUTH_OK. Until it completes the
// channel only accepts handshake frames of at most kMaxPayloadUnauthenticated
// bytes; anything else is refused with kNotAuthenticated.
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

}  // namespace mkproto
