#pragma once
// A bounds-checked view of an ELF file held in memory: header, program
// headers, section lookup by name. Both classes (32/64-bit) and both byte
// orders, so a wrong-architecture file is recognised and named, never
// misread. Every out-of-range offset throws RootfsError naming the file.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rootfs::elf {

struct Segment {
  uint32_t type = 0;
  uint64_t offset = 0;
  uint64_t vaddr = 0;
  uint64_t filesz = 0;
};

struct Section {
  std::string_view name;
  uint32_t type = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
};

class File {
 public:
  File(std::string_view bytes, std::string what);

  bool is64() const { return is64_; }
  uint16_t machine() const { return machine_; }
  uint16_t type() const { return type_; }
  const std::vector<Segment>& segments() const { return segments_; }
  const std::vector<Section>& sections() const { return sections_; }
  std::optional<Section> section(std::string_view name) const;

  // bytes[offset, offset+size), or RootfsError naming `field`.
  std::string_view range(uint64_t offset, uint64_t size, std::string_view field) const;
  // File offset of a virtual address inside a PT_LOAD segment.
  uint64_t vaddr_to_offset(uint64_t vaddr, std::string_view field) const;
  // Unsigned integer of `size` bytes (2, 4, 8) at `offset`, in file order.
  uint64_t uint(uint64_t offset, unsigned size, std::string_view field) const;
  const std::string& what() const { return what_; }

 private:
  std::string_view bytes_;
  std::string what_;
  bool is64_ = false;
  bool msb_ = false;
  uint16_t type_ = 0;
  uint16_t machine_ = 0;
  std::vector<Segment> segments_;
  std::vector<Section> sections_;
};

// "ARM", "x86-64", ... for messages.
std::string machine_name(uint16_t machine);

}  // namespace rootfs::elf
