#pragma once
// Where a disk keeps what firmware boots from. The agent wipes these bytes
// when a push opens and writes the image's own only once everything else is
// durable; the host uses the same layout to say truthfully what an
// interrupted push left on the target (docs/protocol.md, "Boot sectors last").
#include <cstdint>
#include <utility>

namespace mkproto {

// The first MiB: the MBR (LBA 0), the primary GPT (LBA 1..33 with 512-byte
// sectors, 1..5 with 4 KiB ones) and the gap before the first partition,
// where boot loaders live (GRUB's core.img after an MBR, U-Boot SPL at 8 or
// 32 KiB on several ARM SoCs). Partitioning tools start the first partition
// at 1 MiB, so this is boot data on practically every image; it is also the
// host's verify block and DATA frame size, and small enough to hold in RAM.
inline constexpr uint64_t kBootHeadBytes = 1u << 20;
// The backup GPT: its header is the device's last LBA, its 128 × 128-byte
// entries the 16 KiB before. A firmware that finds the primary GPT invalid
// reads this one (U-Boot does), so it must not be valid mid-push either.
inline constexpr uint64_t kGptEntriesBytes = 16u << 10;

struct BootLayout {
  uint64_t head_end = 0;     // the head is [0, head_end)
  uint64_t tail_begin = 0;   // the tail is [tail_begin, device_size)
  uint64_t device_size = 0;

  bool in_boot(uint64_t offset) const { return offset < head_end || offset >= tail_begin; }
  // The part of [begin, end) in neither region; a single range, because the
  // head is a prefix of the device and the tail a suffix (empty: first == second).
  std::pair<uint64_t, uint64_t> outside(uint64_t begin, uint64_t end) const;
};

// The layout of a target of device_size bytes with sectors of sector_size
// (as TARGET_INFO reports them). Regions are clamped to the device and
// never overlap.
BootLayout boot_layout(uint64_t device_size, uint32_t sector_size);

}  // namespace mkproto
