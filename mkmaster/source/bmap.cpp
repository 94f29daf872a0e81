#include "mkmaster/source/bmap.h"

#include <expat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <optional>

#include "base/read_file.h"
#include "base/strings.h"
#include "mkmaster/source/digest.h"
#include "mkmaster/source/image_reader.h"

namespace source {

uint64_t Bmap::range_end(const BmapRange& r) const { return std::min((r.last + 1) * block_size, image_size); }

namespace {

struct Field {
  std::string text;
  int line = 0;
  bool seen = false;
};

struct Parser {
  std::string name;
  XML_Parser xml = nullptr;
  std::vector<std::string> stack;
  std::string text;  // character data of the innermost element
  std::string root_version;
  bool root_seen = false;
  std::map<std::string, Field> fields;  // top-level scalar elements
  struct RawRange {
    std::string text;
    std::map<std::string, std::string> attrs;
    int line;
  };
  std::vector<RawRange> ranges;
  std::map<std::string, std::string> cur_attrs;
  int cur_line = 0;
  std::string error;  // first semantic error found in a callback

  int line() const { return static_cast<int>(XML_GetCurrentLineNumber(xml)); }

  static void on_start(void* self_v, const XML_Char* el, const XML_Char** atts) {
    auto* self = static_cast<Parser*>(self_v);
    std::string e = el;
    if (self->stack.empty()) {
      self->root_seen = true;
      if (e != "bmap" && self->error.empty())
        self->error = self->name + ":" + std::to_string(self->line()) + ": root element is <" + e +
                      ">, expected <bmap>";
      for (int i = 0; atts[i]; i += 2)
        if (std::string(atts[i]) == "version") self->root_version = atts[i + 1];
    }
    self->stack.push_back(e);
    self->text.clear();
    self->cur_line = self->line();
    self->cur_attrs.clear();
    for (int i = 0; atts[i]; i += 2) self->cur_attrs[atts[i]] = atts[i + 1];
  }

  static void on_end(void* self_v, const XML_Char* el) {
    auto* self = static_cast<Parser*>(self_v);
    std::string e = el;
    if (self->stack.size() == 2) {
      Field& f = self->fields[e];
      f.text = self->text;
      f.line = self->cur_line;
      f.seen = true;
    } else if (self->stack.size() == 3 && self->stack[1] == "BlockMap" && e == "Range") {
      self->ranges.push_back({self->text, self->cur_attrs, self->cur_line});
    }
    self->stack.pop_back();
    self->text.clear();
  }

  static void on_text(void* self_v, const XML_Char* s, int len) {
    static_cast<Parser*>(self_v)->text.append(s, static_cast<size_t>(len));
  }
};

[[noreturn]] void fail(const std::string& name, int line, const std::string& what) {
  throw SourceError(name + ":" + std::to_string(line) + ": " + what);
}

uint64_t to_u64(const std::string& name, int line, const std::string& field, const std::string& raw) {
  std::string s = base::trim(raw);
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    fail(name, line, field + ": '" + s + "' is not a non-negative integer");
  return v;
}

}  // namespace

Bmap parse_bmap(const std::string& text, const std::string& name) {
  Parser p;
  p.name = name;
  p.xml = XML_ParserCreate(nullptr);
  XML_SetUserData(p.xml, &p);
  XML_SetElementHandler(p.xml, &Parser::on_start, &Parser::on_end);
  XML_SetCharacterDataHandler(p.xml, &Parser::on_text);
  bool ok = XML_Parse(p.xml, text.data(), static_cast<int>(text.size()), 1) == XML_STATUS_OK;
  int err_line = static_cast<int>(XML_GetCurrentLineNumber(p.xml));
  std::string err_text = ok ? "" : XML_ErrorString(XML_GetErrorCode(p.xml));
  XML_ParserFree(p.xml);
  if (!ok) fail(name, err_line, "not well-formed XML: " + err_text);
  if (!p.error.empty()) throw SourceError(p.error);
  if (!p.root_seen) fail(name, 1, "empty bmap file");

  Bmap b;
  b.path = name;
  b.version = base::trim(p.root_version);
  int major = 0, minor = 0;
  if (std::sscanf(b.version.c_str(), "%d.%d", &major, &minor) != 2)
    fail(name, 1, "bmap: version attribute '" + b.version + "' is not MAJOR.MINOR");
  if (major < 1 || major > 2) fail(name, 1, "bmap: format version " + b.version + " is not supported (1.x, 2.x)");

  auto field = [&](const std::string& f) -> const Field& {
    auto it = p.fields.find(f);
    if (it == p.fields.end()) fail(name, 1, "bmap: missing <" + f + ">");
    return it->second;
  };
  auto number = [&](const std::string& f) { return to_u64(name, field(f).line, f, field(f).text); };
  b.image_size = number("ImageSize");
  b.block_size = number("BlockSize");
  b.blocks_count = number("BlocksCount");
  b.mapped_blocks_count = number("MappedBlocksCount");
  if (b.block_size == 0) fail(name, field("BlockSize").line, "BlockSize: must not be 0");
  uint64_t expect_blocks = (b.image_size + b.block_size - 1) / b.block_size;
  if (b.blocks_count != expect_blocks)
    fail(name, field("BlocksCount").line,
         "BlocksCount: " + std::to_string(b.blocks_count) + " does not match ImageSize " +
             std::to_string(b.image_size) + " / BlockSize " + std::to_string(b.block_size) + " = " +
             std::to_string(expect_blocks) + " blocks");

  // 1.4 and 2.0 name the checksum type; 1.3 used SHA-1 under other names.
  std::string range_attr, file_field;
  if (major >= 2 || (major == 1 && minor >= 4)) {
    b.checksum_type = base::trim(field("ChecksumType").text);
    range_attr = "chksum";
    file_field = "BmapFileChecksum";
  } else if (major == 1 && minor == 3) {
    b.checksum_type = "sha1";
    range_attr = "sha1";
    file_field = "BmapFileSHA1";
  }
  size_t hex_len = 0;
  if (!b.checksum_type.empty()) {
    try {
      hex_len = Digest(b.checksum_type).hex_length();
    } catch (const SourceError& e) {
      fail(name, p.fields["ChecksumType"].line, std::string("ChecksumType: ") + e.what());
    }
  }
  auto check_hex = [&](const std::string& what, int line, const std::string& v) {
    bool hex = std::all_of(v.begin(), v.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
    if (v.size() != hex_len || !hex)
      fail(name, line, what + ": '" + v + "' is not a " + std::to_string(hex_len) + "-digit " + b.checksum_type +
                           " checksum");
  };

  if (!p.fields.count("BlockMap")) fail(name, 1, "bmap: missing <BlockMap>");
  uint64_t mapped = 0;
  for (const auto& raw : p.ranges) {
    BmapRange r;
    r.line = raw.line;
    std::string s = base::trim(raw.text);
    auto dash = s.find('-');
    std::string a = dash == std::string::npos ? s : s.substr(0, dash);
    std::string z = dash == std::string::npos ? s : s.substr(dash + 1);
    r.first = to_u64(name, r.line, "Range", a);
    r.last = to_u64(name, r.line, "Range", z);
    if (r.first > r.last) fail(name, r.line, "Range: '" + s + "': first block after last block");
    if (r.last >= b.blocks_count)
      fail(name, r.line, "Range: '" + s + "': beyond the image's " + std::to_string(b.blocks_count) + " blocks");
    if (!b.ranges.empty() && r.first <= b.ranges.back().last)
      fail(name, r.line, "Range: '" + s + "': overlaps or precedes the range on line " +
                             std::to_string(b.ranges.back().line));
    if (!range_attr.empty()) {
      auto it = raw.attrs.find(range_attr);
      if (it != raw.attrs.end()) {
        r.checksum = base::to_lower(base::trim(it->second));
        check_hex("Range " + range_attr, r.line, r.checksum);
      }
    }
    mapped += r.last - r.first + 1;
    b.ranges.push_back(std::move(r));
  }
  if (mapped != b.mapped_blocks_count)
    fail(name, field("MappedBlocksCount").line,
         "MappedBlocksCount: " + std::to_string(b.mapped_blocks_count) + " but the ranges map " +
             std::to_string(mapped) + " blocks");

  // The file's own checksum: computed over the file with that checksum
  // replaced by zeros (bmaptool's definition).
  if (!file_field.empty() && p.fields.count(file_field)) {
    const Field& f = p.fields[file_field];
    std::string want = base::trim(f.text);
    check_hex(file_field, f.line, want);
    std::string zeroed = text;
    auto at = zeroed.find(want);
    if (at != std::string::npos) zeroed.replace(at, want.size(), std::string(want.size(), '0'));
    Digest d(b.checksum_type);
    d.update(zeroed.data(), zeroed.size());
    std::string got = d.hex();
    if (got != base::to_lower(want))
      fail(name, f.line, file_field + ": the bmap file is corrupted (its " + b.checksum_type + " is " + got +
                             ", it records " + want + ")");
  }
  return b;
}

Bmap parse_bmap_file(const std::string& path) {
  const auto text = base::read_file(path);
  if (!text) throw SourceError(path + ": cannot open bmap file");
  return parse_bmap(*text, path);
}

}  // namespace source
