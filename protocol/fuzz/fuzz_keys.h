#pragma once
// The fixed frame keys of the fuzzers: the seed corpus holds frames sealed
// with them, so mutations start from frames whose tags verify.
#include "protocol/session_keys.h"

inline mkproto::SessionKeys fuzz_session_keys() {
  return mkproto::derive_session_keys(mkproto::derive_key("fuzzing secret, never guessed"), mkproto::Nonce{},
                                      mkproto::Nonce{}, mkproto::kProtocolVersion);
}
