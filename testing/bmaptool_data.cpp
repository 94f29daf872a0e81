#include "testing/bmaptool_data.h"

#include <zlib.h>

#include <stdexcept>

namespace mktest {

namespace {
std::string data_dir() { return MKMASTER_SOURCE_TESTDATA "/bmaptool"; }
}  // namespace

const std::vector<std::string>& bmaptool_versions() {
  static const std::vector<std::string> v = {"1.2", "1.3", "1.4", "2.0"};
  return v;
}

std::string bmaptool_bmap(const std::string& version) { return data_dir() + "/test.image.bmap.v" + version; }

const Bytes& bmaptool_image() {
  static const Bytes image = [] {
    const std::string gz = data_dir() + "/test.image.gz";
    gzFile f = gzopen(gz.c_str(), "rb");
    if (!f) throw std::runtime_error(gz + ": cannot open");
    Bytes out;
    uint8_t buf[1 << 16];
    int n = 0;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
    int err = 0;
    std::string msg = n < 0 ? gzerror(f, &err) : "";
    gzclose(f);
    if (n < 0) throw std::runtime_error(gz + ": " + msg);
    return out;
  }();
  return image;
}

source::Bmap bmaptool_map(const std::string& version) { return source::parse_bmap_file(bmaptool_bmap(version)); }

}  // namespace mktest
