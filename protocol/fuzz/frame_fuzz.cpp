// libFuzzer: the frame decoder and every payload decoder on arbitrary bytes.
// Must never crash, hang, over-read or allocate beyond the frame limits;
// every rejection is a ProtocolError.
#include <cstddef>
#include <cstdint>

#include "protocol/frame.h"
#include "protocol/messages.h"

using namespace mkproto;

static void decode_payload(const Frame& f) {
  switch (f.type) {
    case FrameType::kHello: decode_hello(f); break;
    case FrameType::kChallenge: decode_challenge(f); break;
    case FrameType::kAuth: decode_auth(f); break;
    case FrameType::kAuthOk: decode_auth_ok(f); break;
    case FrameType::kError: decode_error(f); break;
    case FrameType::kTargetQuery: decode_target_query(f); break;
    case FrameType::kTargetInfo: decode_target_info(f); break;
    case FrameType::kOpen: decode_open(f); break;
    case FrameType::kOpened: decode_opened(f); break;
    case FrameType::kZero: decode_zero(f); break;
    case FrameType::kSkip: decode_skip(f); break;
    case FrameType::kAck: decode_ack(f); break;
    case FrameType::kFinish: decode_finish(f); break;
    case FrameType::kFinished: decode_finished(f); break;
    case FrameType::kHashRequest: decode_hash_request(f); break;
    case FrameType::kHashes: decode_hashes(f); break;
    case FrameType::kVerify: decode_verify(f); break;
    case FrameType::kDigests: decode_digests(f); break;
    case FrameType::kVerifyEnd: decode_verify_end(f); break;
    case FrameType::kGetFile: decode_get_file(f); break;
    case FrameType::kPutFile: decode_put_file(f); break;
    case FrameType::kFileEnd: decode_file_end(f); break;
    case FrameType::kExec: decode_exec(f); break;
    case FrameType::kExit: decode_exit(f); break;
    default: break;
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // Random bytes almost never carry a valid XXH3-64, so payload decoders are
  // also fed directly: byte 1 is the frame type, the rest the payload.
  if (size >= 2 && known_type(data[1])) {
    Frame f;
    f.type = static_cast<FrameType>(data[1]);
    f.payload.assign(data + 2, data + size);
    try {
      decode_payload(f);
    } catch (const ProtocolError&) {
    }
  }
  // First byte: how to split the rest into feed() calls (exercises the
  // incremental paths).
  size_t step = (data[0] % 64) + 1;
  FrameDecoder d(data[0] & 0x80 ? kMaxPayloadUnauthenticated : kMaxPayload);
  try {
    for (size_t at = 1; at < size; at += step) {
      d.feed({data + at, std::min(step, size - at)});
      while (auto f = d.next()) {
        try {
          decode_payload(*f);
          // What decodes must re-encode to the same payload.
          if (f->type == FrameType::kOpen && encode(decode_open(*f)).payload != f->payload) __builtin_trap();
        } catch (const ProtocolError&) {
        }
      }
    }
  } catch (const ProtocolError&) {
  }
  return 0;
}
