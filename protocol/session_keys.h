#pragma once
// The key schedule of protocol v2 (docs/protocol.md, "Key schedule"):
//   session = BLAKE2b-256 keyed with the secret-derived key, over
//             "mkmaster-v2 session" ‖ host_nonce ‖ agent_nonce ‖ u16 version
//   frame keys = crypto_kdf_derive_from_key(session, id 1 host→agent /
//                id 2 agent→host, context "mkmv2frm")
//   delta key  = crypto_kdf_derive_from_key(BLAKE2b-256 keyed with the key,
//                over "mkmaster-v2 delta" ‖ session_id), id 1, "mkmv2dlt")
// Frame keys are fresh for every connection (both nonces); the delta key is
// fixed for one push (its session id), so hashes received before a reconnect
// still compare with the image after it.
#include <array>

#include "protocol/auth.h"
#include "protocol/delta_hash.h"
#include "protocol/frame_mac.h"

namespace mkproto {

SessionKeys derive_session_keys(const Key& key, const Nonce& host_nonce, const Nonce& agent_nonce, uint16_t version);
DeltaKey derive_delta_key(const Key& key, const SessionId& session);

}  // namespace mkproto
