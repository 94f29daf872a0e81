# bench/lib/image.sh — the benchmark image, shared by bench/flash and
# bench/rack so both measure the same data. Source it, then:
#
#   make_bench_image DIR SIZE DATA_MIB
#
# writes DIR/img.raw (a SIZE ext4 file system made by `mkfs.ext4 -d` from
# the first ~DATA_MIB MiB of real files under /usr/share and /usr/lib, its
# zero blocks punched out: with the defaults, 2G and 384, about 25 % of its
# blocks are mapped) and DIR/img.bmap (`bmaptool create`), reads the image
# once so every method starts from the page cache, and sets IMG_BYTES,
# BLOCK (the .bmap's block size) and MAPPED (mapped bytes).
# Needs mkfs.ext4, bmaptool, fallocate, tar.

make_bench_image() {  # dir size data-mib
  local dir=$1 size=$2 data_mib=$3
  mkdir -p "$dir/tree"
  find /usr/share /usr/lib -xdev -type f -size -16M -printf '%s\t%p\n' 2>/dev/null | sort -k2 |
    awk -F'\t' -v lim=$((data_mib << 20)) 's < lim { s += $1; print $2 }' > "$dir/files.txt"
  tar -cf - --no-recursion -T "$dir/files.txt" 2>/dev/null | tar -xf - -C "$dir/tree"
  rm -f "$dir/img.raw"
  truncate -s "$size" "$dir/img.raw"
  mkfs.ext4 -q -F -d "$dir/tree" "$dir/img.raw"
  rm -rf "$dir/tree" "$dir/files.txt"
  fallocate --dig-holes "$dir/img.raw"   # zero blocks mkfs wrote become holes
  bmaptool -q create -o "$dir/img.bmap" "$dir/img.raw"
  IMG_BYTES=$(stat -c %s "$dir/img.raw")
  BLOCK=$(sed -n 's:.*<BlockSize> *\([0-9]*\) *</BlockSize>.*:\1:p' "$dir/img.bmap")
  MAPPED=$(( $(sed -n 's:.*<MappedBlocksCount> *\([0-9]*\) *</MappedBlocksCount>.*:\1:p' "$dir/img.bmap") * BLOCK ))
  cat "$dir/img.raw" > /dev/null
}
