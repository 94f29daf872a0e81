#pragma once
// Authentication (docs/protocol.md, "Handshake"): a per-session secret known
// to both ends (handed to the agent over the serial console, in a file or on
// stdin — never in argv) is turned into a 32-byte key; each side proves it
// holds the key with HMAC-SHA-512-256 (libsodium crypto_auth) over both
// nonces. The secret and the key never cross the wire.
#include <array>
#include <cstdint>
#include <string>

#include "protocol/messages.h"

namespace mkproto {

using Key = std::array<uint8_t, 32>;
inline constexpr size_t kMinSecret = 16;

// sodium_init once; throws if libsodium cannot initialise.
void crypto_init();

// Key from secret bytes. A trailing newline (echo > file) is ignored.
// Throws ProtocolError(kBadRequest) if the secret is shorter than kMinSecret.
Key derive_key(std::string secret);
// Reads the secret from `path` ("-" = the first line of stdin) and derives
// the key; throws with the path in the message.
Key load_key(const std::string& path);

Nonce random_nonce();
SessionId random_session_id();

// What both proofs cover: the nonces, the version the agent chose and the
// range the host offered, so a relay that narrows HELLO's range (a
// downgrade) makes both proofs fail.
struct Transcript {
  Nonce host_nonce{}, agent_nonce{};
  uint16_t version = 0, min_version = 0, max_version = 0;
};

// What the host proves (AUTH) and what the agent proves (AUTH_OK). Distinct
// labels stop a reflected MAC from being accepted in the other direction.
Mac host_proof(const Key& k, const Transcript& t);
Mac agent_proof(const Key& k, const Transcript& t);
// Constant-time (crypto_auth_verify).
bool check_host_proof(const Key& k, const Transcript& t, const Mac& mac);
bool check_agent_proof(const Key& k, const Transcript& t, const Mac& mac);

}  // namespace mkproto
