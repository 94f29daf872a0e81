#include "protocol/errors.h"

#include <fmt/core.h>

namespace mkproto {

const char* error_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kNone: return "none";
    case ErrorCode::kBadMagic: return "bad-magic";
    case ErrorCode::kBadVersion: return "bad-version";
    case ErrorCode::kBadChecksum: return "bad-checksum";
    case ErrorCode::kBadMac: return "bad-mac";
    case ErrorCode::kTooLarge: return "frame-too-large";
    case ErrorCode::kBadType: return "bad-type";
    case ErrorCode::kBadSequence: return "bad-sequence";
    case ErrorCode::kMalformed: return "malformed";
    case ErrorCode::kUnexpected: return "unexpected-frame";
    case ErrorCode::kNotAuthenticated: return "not-authenticated";
    case ErrorCode::kAuthFailed: return "auth-failed";
    case ErrorCode::kNotAllowed: return "not-allowed";
    case ErrorCode::kMounted: return "mounted";
    case ErrorCode::kImageTooLarge: return "image-too-large";
    case ErrorCode::kNoSession: return "no-session";
    case ErrorCode::kOutOfOrder: return "out-of-order";
    case ErrorCode::kOutOfRange: return "out-of-range";
    case ErrorCode::kIncomplete: return "incomplete";
    case ErrorCode::kBusy: return "busy";
    case ErrorCode::kBadRequest: return "bad-request";
    case ErrorCode::kIo: return "io";
    case ErrorCode::kNotFound: return "not-found";
    case ErrorCode::kExec: return "exec";
    case ErrorCode::kConnection: return "connection";
    case ErrorCode::kVerifyMismatch: return "verify-mismatch";
    case ErrorCode::kSwap: return "swap";
    case ErrorCode::kHeld: return "held";
    case ErrorCode::kNotOffered: return "not-offered";
    case ErrorCode::kPathRefused: return "path-refused";
  }
  return "unknown";
}

ProtocolError::ProtocolError(ErrorCode c, const std::string& message)
    : std::runtime_error(fmt::format("{} [{}]", message, error_name(c))), code(c), detail(message) {}

}  // namespace mkproto
