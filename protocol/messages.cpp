#include "protocol/messages.h"

#include <fmt/core.h>

#include "protocol/wire.h"

namespace mkproto {
namespace {

Frame make(FrameType t, Writer& w, uint64_t offset = 0) {
  Frame f;
  f.type = t;
  f.offset = offset;
  f.payload = w.take();
  return f;
}

Reader reader(const Frame& f, FrameType want) {
  expect_type(f, want);
  return Reader(f.payload, type_name(want));
}

bool get_bool(Reader& r, const char* field) {
  uint8_t v = r.u8(field);
  if (v > 1) r.fail(field, fmt::format("boolean is {}", v));
  return v == 1;
}

}  // namespace

void expect_type(const Frame& f, FrameType want) {
  if (f.type == want) return;
  if (f.type == FrameType::kError) throw_remote_error(f);
  throw ProtocolError(ErrorCode::kUnexpected,
                      fmt::format("frame {}: got {} where {} was expected", f.seq, type_name(f.type), type_name(want)));
}

void throw_remote_error(const Frame& f) {
  ErrorMsg e = decode_error(f);
  throw ProtocolError(e.code, fmt::format("agent: {}", e.message));
}

Frame encode(const Hello& m) {
  Writer w;
  w.u16(m.min_version).u16(m.max_version).bytes(m.nonce).str(m.client);
  return make(FrameType::kHello, w);
}
Hello decode_hello(const Frame& f) {
  Reader r = reader(f, FrameType::kHello);
  Hello m;
  m.min_version = r.u16("min_version");
  m.max_version = r.u16("max_version");
  if (m.min_version > m.max_version) r.fail("min_version", "greater than max_version");
  m.nonce = r.fixed<kNonceSize>("nonce");
  m.client = r.str("client", kMaxText);
  r.end();
  return m;
}

Frame encode(const Challenge& m) {
  Writer w;
  w.u16(m.version).bytes(m.nonce).str(m.agent);
  return make(FrameType::kChallenge, w);
}
Challenge decode_challenge(const Frame& f) {
  Reader r = reader(f, FrameType::kChallenge);
  Challenge m;
  m.version = r.u16("version");
  m.nonce = r.fixed<kNonceSize>("nonce");
  m.agent = r.str("agent", kMaxText);
  r.end();
  return m;
}

Frame encode(const Auth& m) {
  Writer w;
  w.bytes(m.mac);
  return make(FrameType::kAuth, w);
}
Auth decode_auth(const Frame& f) {
  Reader r = reader(f, FrameType::kAuth);
  Auth m{r.fixed<kMacSize>("mac")};
  r.end();
  return m;
}
Frame encode(const AuthOk& m) {
  Writer w;
  w.bytes(m.mac);
  return make(FrameType::kAuthOk, w);
}
AuthOk decode_auth_ok(const Frame& f) {
  Reader r = reader(f, FrameType::kAuthOk);
  AuthOk m{r.fixed<kMacSize>("mac")};
  r.end();
  return m;
}

Frame encode(const ErrorMsg& m) {
  Writer w;
  w.u16(static_cast<uint16_t>(m.code)).u64(m.watermark).str(m.message.substr(0, kMaxText));
  return make(FrameType::kError, w);
}
ErrorMsg decode_error(const Frame& f) {
  if (f.type != FrameType::kError) expect_type(f, FrameType::kError);
  Reader r(f.payload, "ERROR");
  ErrorMsg m;
  m.code = static_cast<ErrorCode>(r.u16("code"));
  m.watermark = r.u64("watermark");
  m.message = r.str("message", kMaxText);
  r.end();
  return m;
}

Frame encode(const TargetQuery& m) {
  Writer w;
  w.str(m.path);
  return make(FrameType::kTargetQuery, w);
}
TargetQuery decode_target_query(const Frame& f) {
  Reader r = reader(f, FrameType::kTargetQuery);
  TargetQuery m{r.str("path", kMaxPath)};
  r.end();
  return m;
}

static void put_target(Writer& w, const TargetInfo& m) {
  w.str(m.path).u8(static_cast<uint8_t>(m.kind)).u64(m.size).u32(m.sector_size).u8(m.mounted ? 1 : 0).str(m.mount_point);
}
static TargetInfo get_target(Reader& r) {
  TargetInfo m;
  m.path = r.str("path", kMaxPath);
  uint8_t kind = r.u8("kind");
  if (kind != 1 && kind != 2) r.fail("kind", fmt::format("unknown target kind {}", kind));
  m.kind = static_cast<TargetKind>(kind);
  m.size = r.u64("size");
  m.sector_size = r.u32("sector_size");
  if (m.sector_size == 0 || m.sector_size > 65536 || (m.sector_size & (m.sector_size - 1)))
    r.fail("sector_size", fmt::format("{} is not a power of two up to 65536", m.sector_size));
  m.mounted = get_bool(r, "mounted");
  m.mount_point = r.str("mount_point", kMaxPath);
  return m;
}
Frame encode(const TargetInfo& m) {
  Writer w;
  put_target(w, m);
  return make(FrameType::kTargetInfo, w);
}
TargetInfo decode_target_info(const Frame& f) {
  Reader r = reader(f, FrameType::kTargetInfo);
  TargetInfo m = get_target(r);
  r.end();
  return m;
}

Frame encode(const Open& m) {
  Writer w;
  w.bytes(m.session).str(m.path).u64(m.image_size).u8(static_cast<uint8_t>(m.holes));
  return make(FrameType::kOpen, w);
}
Open decode_open(const Frame& f) {
  Reader r = reader(f, FrameType::kOpen);
  Open m;
  m.session = r.fixed<kSessionIdSize>("session");
  m.path = r.str("path", kMaxPath);
  m.image_size = r.u64("image_size");
  uint8_t h = r.u8("holes");
  if (h > 1) r.fail("holes", fmt::format("unknown holes mode {}", h));
  m.holes = static_cast<HolesMode>(h);
  r.end();
  return m;
}

Frame encode(const Opened& m) {
  Writer w;
  w.u64(m.watermark).u8(m.resumed ? 1 : 0);
  put_target(w, m.target);
  return make(FrameType::kOpened, w);
}
Opened decode_opened(const Frame& f) {
  Reader r = reader(f, FrameType::kOpened);
  Opened m;
  m.watermark = r.u64("watermark");
  m.resumed = get_bool(r, "resumed");
  m.target = get_target(r);
  r.end();
  return m;
}

Frame encode_zero(uint64_t offset, uint64_t length) {
  Writer w;
  w.u64(length);
  return make(FrameType::kZero, w, offset);
}
static void check_range(Reader& r, uint64_t offset, uint64_t length) {
  if (length == 0) r.fail("length", "zero-length range");
  if (offset + length < offset) r.fail("length", "offset + length overflows");
}
ZeroRange decode_zero(const Frame& f) {
  Reader r = reader(f, FrameType::kZero);
  ZeroRange m{r.u64("length"), SkipReason::kKeep};
  check_range(r, f.offset, m.length);
  r.end();
  return m;
}
Frame encode_skip(uint64_t offset, uint64_t length, SkipReason reason) {
  Writer w;
  w.u64(length).u8(static_cast<uint8_t>(reason));
  return make(FrameType::kSkip, w, offset);
}
ZeroRange decode_skip(const Frame& f) {
  Reader r = reader(f, FrameType::kSkip);
  ZeroRange m;
  m.length = r.u64("length");
  check_range(r, f.offset, m.length);
  uint8_t why = r.u8("reason");
  if (why > 1) r.fail("reason", fmt::format("unknown skip reason {}", why));
  m.reason = static_cast<SkipReason>(why);
  r.end();
  return m;
}

Frame encode(const Ack& m) {
  Writer w;
  w.u64(m.durable);
  return make(FrameType::kAck, w);
}
Ack decode_ack(const Frame& f) {
  Reader r = reader(f, FrameType::kAck);
  Ack m{r.u64("durable")};
  r.end();
  return m;
}
Frame encode(const Finish& m) {
  Writer w;
  w.u64(m.image_size);
  return make(FrameType::kFinish, w);
}
Finish decode_finish(const Frame& f) {
  Reader r = reader(f, FrameType::kFinish);
  Finish m{r.u64("image_size")};
  r.end();
  return m;
}
Frame encode_finished(uint64_t watermark) {
  Writer w;
  w.u64(watermark);
  return make(FrameType::kFinished, w);
}
uint64_t decode_finished(const Frame& f) {
  Reader r = reader(f, FrameType::kFinished);
  uint64_t v = r.u64("watermark");
  r.end();
  return v;
}

static void check_block(Reader& r, uint32_t block) {
  if (block < kMinBlock || block > kMaxBlock || (block & (block - 1)))
    r.fail("block", fmt::format("block size {} is not a power of two in [{}, {}]", block, kMinBlock, kMaxBlock));
}
Frame encode_hash_request(uint64_t offset, const HashRequest& m) {
  Writer w;
  w.u64(m.length).u32(m.block);
  return make(FrameType::kHashRequest, w, offset);
}
HashRequest decode_hash_request(const Frame& f) {
  Reader r = reader(f, FrameType::kHashRequest);
  HashRequest m;
  m.length = r.u64("length");
  check_range(r, f.offset, m.length);
  m.block = r.u32("block");
  check_block(r, m.block);
  r.end();
  return m;
}
Frame encode_hashes(uint64_t offset, const Hashes& m) {
  Writer w;
  w.u32(static_cast<uint32_t>(m.hashes.size()));
  for (uint64_t h : m.hashes) w.u64(h);
  return make(FrameType::kHashes, w, offset);
}
Hashes decode_hashes(const Frame& f) {
  Reader r = reader(f, FrameType::kHashes);
  uint32_t n = r.u32("count");
  if (n > kMaxHashesPerFrame) r.fail("count", fmt::format("{} hashes in one frame (limit {})", n, kMaxHashesPerFrame));
  Hashes m;
  m.hashes.reserve(n);
  for (uint32_t i = 0; i < n; ++i) m.hashes.push_back(r.u64("hash"));
  r.end();
  return m;
}
Frame encode(const Verify& m) {
  Writer w;
  w.u32(m.block).u8(static_cast<uint8_t>(m.scope));
  return make(FrameType::kVerify, w);
}
Verify decode_verify(const Frame& f) {
  Reader r = reader(f, FrameType::kVerify);
  Verify m{r.u32("block")};
  check_block(r, m.block);
  if (r.remaining() > 0) {
    uint8_t scope = r.u8("scope");
    if (scope > static_cast<uint8_t>(VerifyScope::kWritten)) r.fail("scope", fmt::format("unknown verify scope {}", scope));
    m.scope = static_cast<VerifyScope>(scope);
  }
  r.end();
  return m;
}
Frame encode_digests(uint64_t offset, const Digests& m) {
  Writer w;
  w.u32(static_cast<uint32_t>(m.digests.size()));
  for (auto& d : m.digests) w.bytes(d);
  return make(FrameType::kDigests, w, offset);
}
Digests decode_digests(const Frame& f) {
  Reader r = reader(f, FrameType::kDigests);
  uint32_t n = r.u32("count");
  if (n > kMaxDigestsPerFrame) r.fail("count", fmt::format("{} digests in one frame (limit {})", n, kMaxDigestsPerFrame));
  Digests m;
  m.digests.reserve(n);
  for (uint32_t i = 0; i < n; ++i) m.digests.push_back(r.fixed<16>("digest"));
  r.end();
  return m;
}
Frame encode(const VerifyEnd& m) {
  Writer w;
  w.bytes(m.overall).u64(m.bytes_read).u8(m.direct_io ? 1 : 0);
  return make(FrameType::kVerifyEnd, w);
}
VerifyEnd decode_verify_end(const Frame& f) {
  Reader r = reader(f, FrameType::kVerifyEnd);
  VerifyEnd m;
  m.overall = r.fixed<16>("overall");
  m.bytes_read = r.u64("bytes_read");
  m.direct_io = get_bool(r, "direct_io");
  r.end();
  return m;
}

Frame encode_get_file(const PathMsg& m) {
  Writer w;
  w.str(m.path);
  return make(FrameType::kGetFile, w);
}
PathMsg decode_get_file(const Frame& f) {
  Reader r = reader(f, FrameType::kGetFile);
  PathMsg m{r.str("path", kMaxPath)};
  if (m.path.empty()) r.fail("path", "empty");
  r.end();
  return m;
}
Frame encode(const PutFile& m) {
  Writer w;
  w.str(m.path).u64(m.size).u32(m.mode);
  return make(FrameType::kPutFile, w);
}
PutFile decode_put_file(const Frame& f) {
  Reader r = reader(f, FrameType::kPutFile);
  PutFile m;
  m.path = r.str("path", kMaxPath);
  if (m.path.empty()) r.fail("path", "empty");
  m.size = r.u64("size");
  m.mode = r.u32("mode");
  if (m.mode > 07777) r.fail("mode", fmt::format("{:o} is not a permission mode", m.mode));
  r.end();
  return m;
}
Frame encode(const FileEnd& m) {
  Writer w;
  w.u64(m.size).bytes(m.digest);
  return make(FrameType::kFileEnd, w);
}
FileEnd decode_file_end(const Frame& f) {
  Reader r = reader(f, FrameType::kFileEnd);
  FileEnd m;
  m.size = r.u64("size");
  m.digest = r.fixed<16>("digest");
  r.end();
  return m;
}
Frame encode(const ExecMsg& m) {
  Writer w;
  w.u32(m.timeout_s).u16(static_cast<uint16_t>(m.argv.size()));
  for (auto& a : m.argv) w.str(a);
  return make(FrameType::kExec, w);
}
ExecMsg decode_exec(const Frame& f) {
  Reader r = reader(f, FrameType::kExec);
  ExecMsg m;
  m.timeout_s = r.u32("timeout_s");
  uint16_t n = r.u16("argc");
  if (n == 0 || n > kMaxArgs) r.fail("argc", fmt::format("{} arguments (1..{} allowed)", n, kMaxArgs));
  for (uint16_t i = 0; i < n; ++i) {
    m.argv.push_back(r.str("argv", kMaxPath));
    if (m.argv.back().find('\0') != std::string::npos) r.fail("argv", "contains a NUL byte");
  }
  r.end();
  return m;
}
Frame encode(const ExitMsg& m) {
  Writer w;
  w.i32(m.status).u8(m.signaled ? 1 : 0).u8(m.timed_out ? 1 : 0);
  return make(FrameType::kExit, w);
}
ExitMsg decode_exit(const Frame& f) {
  Reader r = reader(f, FrameType::kExit);
  ExitMsg m;
  m.status = r.i32("status");
  m.signaled = get_bool(r, "signaled");
  m.timed_out = get_bool(r, "timed_out");
  r.end();
  return m;
}

Frame encode_empty(FrameType t, uint64_t offset) {
  Frame f;
  f.type = t;
  f.offset = offset;
  return f;
}

}  // namespace mkproto
