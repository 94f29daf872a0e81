#pragma once
// One .deb's data.tar.*, read in place: the member is streamed out of the
// `ar` container into libarchive's tar reader, with xz decoded by
// liblzma's threaded decoder (dpkg writes independent xz blocks).
#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <functional>
#include <string>

namespace rootfs {

using EntryFn = std::function<void(const std::string& path, archive* tar, archive_entry* e)>;

// Calls fn for every entry of the .deb's data.tar.*, with the path made
// absolute ("./usr/bin/x" -> "/usr/bin/x"). Throws RootfsError naming the
// file for a damaged or foreign archive.
void walk_deb(const std::string& file, const EntryFn& fn);

// The current entry's contents (size from its header, bounded so a corrupt
// header cannot become a giant allocation).
std::string read_data(archive* tar, uint64_t size, const std::string& file, const std::string& path);

}  // namespace rootfs
