#pragma once
// Host side of an image push (docs/protocol.md): stream an image source to
// target-agent — sparse, optionally delta and zstd-compressed — reconnect
// and resume from the acknowledged watermark, verify the read-back digest.
// The image is read once: a source that cannot tell its size up front is
// announced as of unknown size and its size is told at FINISH.
// The CLI (`mkmaster push`) and the node pipeline (`push IMAGE NODE…`) call
// push_image(); PushSession (push_session.h) does the work.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mkmaster/push/agent_client.h"
#include "mkmaster/source/image_reader.h"
#include "protocol/messages.h"

namespace push {

struct Progress {
  enum class Kind { kStart, kProgress, kReconnect, kVerify, kDone } kind = Kind::kProgress;
  uint64_t position = 0;    // bytes of the image placed so far
  uint64_t image_size = 0;  // 0 while unknown (learned at the image's end)
  uint64_t bytes_sent = 0;  // image bytes sent in DATA frames
  uint64_t acked = 0;       // durable watermark
  double seconds = 0;
  std::string message;      // reconnect reason, etc.
};

struct PushOptions {
  std::string image;               // path or http(s) URL
  AgentAddress agent;              // where and the key
  std::string target;              // "" = the agent's --target
  std::string bmap;                // optional .bmap
  mkproto::HolesMode holes = mkproto::HolesMode::kZero;
  bool delta = false;
  // With delta and an http(s) image: where its image index is (docs/index.md).
  // "": IMAGE.mkidx beside it, if the server has one; "none": read the whole
  // image; else a path or URL that must hold the image's index.
  std::string index;
  bool verify = true;
  // With delta: also read back the blocks found unchanged (VerifyScope::kAll).
  // Default: only what this push wrote; unchanged blocks were compared by
  // hash with what the target held.
  bool verify_kept = false;
  // When the agent reads back (docs/protocol.md, "Verify while the image
  // streams"): kAuto — while the image streams, unless the target's disk is
  // rotational (then after FINISH); kAlways — while it streams, whatever the
  // disk; kAfterFinish — after FINISH only.
  mkproto::VerifyOverlap verify_overlap = mkproto::VerifyOverlap::kAuto;
  bool compress = false;           // zstd on the wire, per frame, when it shrinks
  // Rounds of re-sending the verify blocks that read back wrong, then
  // reading them back again; 0: a mismatch fails the push at once.
  int repair_attempts = 2;
  int retries = 5;                 // reconnects after failures without progress
  // The push fails once the agent has shown no progress (docs/protocol.md,
  // "Deadlines") for this long — taking no bytes, no ACK, no reply —
  // reconnects included: a stopped, black-holed or powered-off agent fails
  // the push in about this time, not the kernel's ~15 minutes.
  std::chrono::milliseconds stall_timeout{30000};
  std::chrono::milliseconds backoff{200};  // doubled per failed attempt, capped at 5 s
  // 4 KiB: the file-system block, so a changed file block re-sends 4 KiB, not
  // 64 KiB (2 % random 4 KiB changes re-sent 158 MB with 64 KiB blocks).
  uint32_t delta_block = 4u << 10;
  uint32_t verify_block = 1u << 20;
  // Delta with an image of unknown size: the target's hashes are asked for
  // this far ahead of the stream (rounded up to delta blocks). Large enough
  // that the agent's hasher stays ahead, small enough that hashing past the
  // image's end (at most two windows) costs the node well under a second.
  uint64_t delta_window = 64u << 20;
  std::function<void(const Progress&)> on_progress;
  // The last BYE revokes the agent's secret, which then exits (the node
  // pipeline sets it: its one-time secret opens nothing after the push).
  // `mkmaster push --agent` leaves it false, so that agent can be reused.
  bool revoke_at_end = false;
  // The push's session id (docs/protocol.md, OPEN); default: random. The
  // relay (relay_push.h) gives its own: the nodes it forwards to accept it.
  std::optional<mkproto::SessionId> session_id;
  // Opens the image (tests, other areas); default: source::open_image.
  std::function<std::unique_ptr<source::ImageReader>()> open_source;
};

struct PushResult {
  uint64_t image_size = 0;
  uint64_t announced_size = 0;    // OPEN's image_size: the size, or kImageSizeUnknown (told at FINISH)
  uint64_t bytes_sent = 0;        // image bytes carried by DATA frames (all attempts)
  uint64_t wire_bytes = 0;        // everything written to the socket, headers included
  uint64_t data_bytes = 0;        // image bytes that are data (last pass)
  uint64_t hole_bytes = 0;        // zeroed (ZERO) or skipped (dont-care)
  uint64_t kept_bytes = 0;        // delta: already right on the target
  int reconnects = 0;
  // How often the image source was opened: 1, plus one per resume that read
  // it again (and one more when delta had to learn an unrecorded size).
  int image_reads = 0;
  double seconds = 0;
  // Where the time went (all attempts): the image stream, FINISH (the
  // agent's final sync), the read-back verify; and, inside the stream, the
  // wait for delta hashes the agent had not sent yet.
  double stream_seconds = 0, finish_seconds = 0, verify_seconds = 0, hash_wait_seconds = 0;
  bool verified = false;          // verify ran and matched
  uint64_t verify_bytes_read = 0; // bytes the agent read back from the target
  bool verify_overlapped = false; // the read-back ran while the image streamed
  std::string verify_message;     // "ok (O_DIRECT)", "skipped", or the first bad range
  // Byte ranges [first, second) that read back wrong and were re-sent until
  // they verified, in order; the rounds that took.
  std::vector<std::pair<uint64_t, uint64_t>> repaired;
  int repair_rounds = 0;
  uint64_t repair_bytes_sent = 0;  // image bytes of DATA frames those rounds carried
  std::string target;             // what the agent wrote
  // The image's digest per verify block as it should land (holes as zeros,
  // dont-care left out): what the relay compares every other node with.
  std::vector<mkproto::Digest128> block_digests;
  // Delta from a URL: whether an image index was used, and why not.
  std::string index_note;
  uint64_t index_bytes = 0;        // the index file's size
  // HTTP response bytes of the range requests made through the index
  // (multipart headers and the probe included), and their count.
  uint64_t http_range_bytes = 0;
  int http_range_requests = 0;
  double mb_per_s() const { return seconds > 0 ? image_size / 1e6 / seconds : 0; }
};

// Throws on refusal or when retries are exhausted (complete message); a
// verify mismatch that repair_attempts rounds did not fix throws
// ProtocolError(kVerifyMismatch) naming the byte range that stays wrong.
PushResult push_image(const PushOptions& options);

// The image source as push_image reads it (options.open_source, or the
// image with its .bmap).
std::unique_ptr<source::ImageReader> open_image_source(const PushOptions& options);
// Opens the image and reads its first extent (a missing file, an HTTP
// error, a bad .bmap, a corrupt compressed stream throw source::SourceError
// with the reason) and says what it is: before any node is touched, so a job
// with a bad image leaves its nodes as they were.
std::string check_image(const PushOptions& options);

}  // namespace push
