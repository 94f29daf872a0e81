#pragma once
// bmaptool's own test data (mkmaster/source/testdata/bmaptool: GPL-2.0, see
// SOURCE and LICENSE.bmaptool there): test.image (kept gzip'd in the repo)
// and its block maps in formats 1.2, 1.3, 1.4 and 2.0, as bmaptool's tests
// use them. Real maps written by bmaptool, not by our own writer.
#include <string>
#include <vector>

#include "mkmaster/source/bmap.h"
#include "testing/files.h"

namespace mktest {

// The formats shipped; 1.2 records no checksums, the others one per range.
const std::vector<std::string>& bmaptool_versions();
// Path of test.image.bmap.v<version>.
std::string bmaptool_bmap(const std::string& version);
// test.image, unpacked once per process.
const Bytes& bmaptool_image();
// The parsed map of `version` (its ranges, ImageSize, checksum type).
source::Bmap bmaptool_map(const std::string& version);

}  // namespace mktest
