#pragma once
// rename(2) that survives a power cut: the file's data is synced by the
// caller, the new directory entry here (fsync of the directory), so after a
// crash the path holds either the old file or the complete new one.
#include <string>

namespace agent {

// Renames `from` onto `to`, then fsyncs the directory holding `to`. Throws
// ProtocolError(kIo) naming the paths (or the directory) and errno.
void durable_rename(const std::string& from, const std::string& to);

// The same for two names in the directory `dir` (an fd, as PUT_FILE holds
// it beneath --files-root). `shown` names the target in messages.
void durable_renameat(int dir, const std::string& from, const std::string& to, const std::string& shown);

}  // namespace agent
