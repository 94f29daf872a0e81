#include "protocol/handshake.h"

#include <fmt/core.h>

#include "protocol/session_keys.h"

namespace mkproto {

HandshakeResult client_handshake(Channel& ch, const Key& key, const std::string& client_name) {
  Hello hello;
  hello.nonce = random_nonce();
  hello.client = client_name;
  ch.send(encode(hello));
  Frame f = ch.recv();
  Challenge c = decode<Challenge>(f);
  if (c.version < hello.min_version || c.version > hello.max_version)
    throw ProtocolError(ErrorCode::kBadVersion,
                        fmt::format("agent chose protocol version {}, outside {}..{}", c.version, hello.min_version,
                                    hello.max_version));
  Transcript t{hello.nonce, c.nonce, c.version, hello.min_version, hello.max_version};
  ch.send(encode(Auth{host_proof(key, t)}));
  AuthOk ok = decode<AuthOk>(ch.recv());
  if (!check_agent_proof(key, t, ok.mac))
    throw ProtocolError(ErrorCode::kAuthFailed,
                        fmt::format("agent '{}' could not prove it knows the session secret (or a relay altered the "
                                    "handshake)", c.agent));
  ch.set_session_keys(derive_session_keys(key, hello.nonce, c.nonce, c.version), Channel::Role::kHost);
  ch.set_max_payload(kMaxPayload);
  return {c.version, c.agent};
}

namespace {
[[noreturn]] void refuse(Channel& ch, ErrorCode code, const std::string& message) {
  try {
    ch.send(encode(ErrorMsg{code, 0, message}));
  } catch (const std::exception&) {
    // The peer may be gone already; the refusal stands either way.
  }
  throw ProtocolError(code, message);
}

Frame recv_handshake(Channel& ch, FrameType want) {
  Frame f;
  try {
    f = ch.recv();
  } catch (const ProtocolError& e) {
    refuse(ch, e.code == ErrorCode::kTooLarge ? ErrorCode::kNotAuthenticated : e.code,
           fmt::format("before authentication: {}", e.detail));
  }
  if (f.type != want)
    refuse(ch, ErrorCode::kNotAuthenticated,
           fmt::format("{} frame before authentication (expected {})", type_name(f.type), type_name(want)));
  return f;
}
}  // namespace

HandshakeResult server_handshake(Channel& ch, const Key& key, const std::string& agent_name) {
  size_t which = 0;
  return server_handshake(ch, std::span<const Key>(&key, 1), agent_name, which);
}

HandshakeResult server_handshake(Channel& ch, std::span<const Key> keys, const std::string& agent_name, size_t& which) {
  ch.set_max_payload(kMaxPayloadUnauthenticated);
  Hello hello;
  try {
    hello = decode<Hello>(recv_handshake(ch, FrameType::kHello));
  } catch (const ProtocolError& e) {
    if (e.code == ErrorCode::kMalformed) refuse(ch, e.code, e.detail);
    throw;
  }
  if (hello.min_version > kProtocolVersion || hello.max_version < kProtocolVersion)
    refuse(ch, ErrorCode::kBadVersion,
           fmt::format("host speaks protocol versions {}..{}, this agent speaks only {} (earlier versions do not "
                       "authenticate frames and are refused)", hello.min_version, hello.max_version, kProtocolVersion));
  Challenge c;
  c.version = kProtocolVersion;
  c.nonce = random_nonce();
  c.agent = agent_name;
  ch.send(encode(c));
  Auth auth;
  try {
    auth = decode<Auth>(recv_handshake(ch, FrameType::kAuth));
  } catch (const ProtocolError& e) {
    if (e.code == ErrorCode::kMalformed) refuse(ch, e.code, e.detail);
    throw;
  }
  Transcript t{hello.nonce, c.nonce, c.version, hello.min_version, hello.max_version};
  which = keys.size();
  for (size_t i = 0; i < keys.size(); ++i)  // every key, so the time does not tell which matched
    if (check_host_proof(keys[i], t, auth.mac) && which == keys.size()) which = i;
  if (which == keys.size())
    refuse(ch, ErrorCode::kAuthFailed,
           "authentication failed: the host does not know this agent's session secret (or a relay altered the "
           "handshake)");
  const Key& key = keys[which];
  ch.send(encode(AuthOk{agent_proof(key, t)}));
  ch.set_session_keys(derive_session_keys(key, hello.nonce, c.nonce, c.version), Channel::Role::kAgent);
  ch.set_max_payload(kMaxPayload);
  return {c.version, hello.client};
}

}  // namespace mkproto
