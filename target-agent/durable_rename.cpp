#include "target-agent/durable_rename.h"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/core.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "base/unique_fd.h"
#include "protocol/errors.h"

namespace agent {

using mkproto::ErrorCode;
using mkproto::ProtocolError;

void durable_rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    throw ProtocolError(ErrorCode::kIo, fmt::format("rename {} to {}: {}", from, to, std::strerror(errno)));
  std::string dir = std::filesystem::path(to).parent_path().string();
  if (dir.empty()) dir = ".";
  base::UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d || ::fsync(d.get()) != 0)
    throw ProtocolError(ErrorCode::kIo,
                        fmt::format("fsync directory {} after renaming {} onto {}: {}", dir, from, to, std::strerror(errno)));
}

}  // namespace agent

namespace agent {

void durable_renameat(int dir, const std::string& from, const std::string& to, const std::string& shown) {
  if (::renameat(dir, from.c_str(), dir, to.c_str()) != 0)
    throw ProtocolError(ErrorCode::kIo, fmt::format("rename {} onto {}: {}", from, shown, std::strerror(errno)));
  if (::fsync(dir) != 0)
    throw ProtocolError(ErrorCode::kIo, fmt::format("fsync the directory of {}: {}", shown, std::strerror(errno)));
}

}  // namespace agent
