// GET_FILE, PUT_FILE and EXEC on the agent (replacing busybox httpd/wget on
// the node): docs/protocol.md, "Files and commands".
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string_view>

#include "base/spawn.h"
#include "base/unique_fd.h"
#include "target-agent/connection.h"
#include "target-agent/durable_rename.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::Frame;
using mkproto::FrameType;
using mkproto::ProtocolError;

namespace {
constexpr size_t kFileChunk = 1u << 20;

void check_path(const std::string& p) {
  if (p.find('\0') != std::string::npos) throw ProtocolError(ErrorCode::kBadRequest, "path contains a NUL byte");
}

}  // namespace

void Connection::on_get_file(const Frame& f) {
  auto req = mkproto::decode<mkproto::GetFile>(f);
  check_path(req.path);
  base::UniqueFd in(::open(req.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in)
    throw ProtocolError(errno == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                        fmt::format("{}: {}", req.path, std::strerror(errno)));
  struct stat st;
  if (::fstat(in.get(), &st) == 0 && S_ISDIR(st.st_mode))
    throw ProtocolError(ErrorCode::kBadRequest, fmt::format("{} is a directory", req.path));
  std::vector<uint8_t> buf(kFileChunk);
  mkproto::Hash128 h;
  uint64_t off = 0;
  for (;;) {
    ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw ProtocolError(ErrorCode::kIo, fmt::format("read {}: {}", req.path, std::strerror(errno)));
    if (n == 0) break;
    std::span<const uint8_t> chunk(buf.data(), static_cast<size_t>(n));
    h.update(chunk.data(), chunk.size());
    ch_.send_raw(FrameType::kFileData, 0, off, chunk);
    off += static_cast<uint64_t>(n);
  }
  ch_.send(mkproto::encode(mkproto::FileEnd{off, h.digest()}));
}

void Connection::on_put_file(const Frame& f) {
  auto req = mkproto::decode<mkproto::PutFile>(f);
  check_path(req.path);
  std::string part = req.path + ".mkmaster-part";
  base::UniqueFd out(::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, static_cast<mode_t>(req.mode)));
  if (!out) throw ProtocolError(ErrorCode::kIo, fmt::format("create {}: {}", part, std::strerror(errno)));
  struct Cleanup {
    std::string path;
    bool keep = false;
    ~Cleanup() {
      if (!keep) ::unlink(path.c_str());
    }
  } cleanup{part};
  mkproto::Hash128 h;
  uint64_t off = 0;
  for (;;) {
    Frame d = ch_.recv();
    if (d.type == FrameType::kFileEnd) {
      auto end = mkproto::decode<mkproto::FileEnd>(d);
      if (end.size != off || off != req.size)
        throw ProtocolError(ErrorCode::kIncomplete,
                            fmt::format("{}: announced {} bytes, received {}, FILE_END says {}", req.path, req.size, off,
                                        end.size));
      if (end.digest != h.digest())
        throw ProtocolError(ErrorCode::kBadChecksum, fmt::format("{}: digest of the received bytes does not match", req.path));
      break;
    }
    mkproto::expect_type(d, FrameType::kFileData);
    if (d.offset != off)
      throw ProtocolError(ErrorCode::kOutOfOrder, fmt::format("FILE_DATA at {} where {} was expected", d.offset, off));
    if (d.payload.size() > kFileChunk || off + d.payload.size() > req.size)
      throw ProtocolError(ErrorCode::kOutOfRange,
                          fmt::format("FILE_DATA [{}, {}) past the announced size {}", off, off + d.payload.size(), req.size));
    h.update(d.payload.data(), d.payload.size());
    for (size_t done = 0; done < d.payload.size();) {
      ssize_t n = ::write(out.get(), d.payload.data() + done, d.payload.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw ProtocolError(ErrorCode::kIo, fmt::format("write {}: {}", part, std::strerror(errno)));
      done += static_cast<size_t>(n);
    }
    off += d.payload.size();
  }
  if (::fchmod(out.get(), static_cast<mode_t>(req.mode)) != 0 || ::fsync(out.get()) != 0)
    throw ProtocolError(ErrorCode::kIo, fmt::format("sync {}: {}", part, std::strerror(errno)));
  durable_rename(part, req.path);
  cleanup.keep = true;
  ch_.send(mkproto::encode(mkproto::FileDone{}));
}

void Connection::on_exec(const Frame& f) {
  auto req = mkproto::decode<mkproto::ExecMsg>(f);
  base::Child child;
  try {
    child = base::spawn(base::SpawnOptions(req.argv));
  } catch (const std::exception& e) {
    throw ProtocolError(ErrorCode::kExec, e.what());
  }
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (req.timeout_s > 0) deadline = std::chrono::steady_clock::now() + std::chrono::seconds(req.timeout_s);
  const bool finished = base::read_output(child, deadline, [&](int stream, std::string_view bytes) {
    ch_.send_raw(FrameType::kOutput, stream == 2 ? mkproto::kFlagStderr : 0, 0,
                 {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  });
  const base::ExitStatus status = child.wait();
  mkproto::ExitMsg ex;
  ex.timed_out = !finished;
  ex.signaled = status.signal != 0;
  ex.status = ex.signaled ? status.signal : status.code;
  ch_.send(mkproto::encode(ex));
}

}  // namespace agent
