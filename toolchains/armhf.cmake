# Cross toolchain for the static armhf target-agent (Calxeda Highbank: Cortex-A9,
# VFPv3-D16 + NEON, hard-float). Uses Debian's crossbuild-essential-armhf and
# the sysroot that scripts/fetch-armhf-sysroot.sh unpacks.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)

if(NOT MKMASTER_SYSROOT)
  if(DEFINED ENV{MKMASTER_CACHE})
    set(MKMASTER_SYSROOT "$ENV{MKMASTER_CACHE}/armhf/sysroot")
  else()
    set(MKMASTER_SYSROOT "/var/cache/mkmaster/armhf/sysroot")
  endif()
endif()
set(MKMASTER_SYSROOT "${MKMASTER_SYSROOT}" CACHE PATH "unpacked armhf packages")

# Not CMAKE_SYSROOT: that would hide the cross compiler's own libc.
set(CMAKE_FIND_ROOT_PATH "${MKMASTER_SYSROOT}" /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_LIBRARY_ARCHITECTURE arm-linux-gnueabihf)

set(CMAKE_C_FLAGS_INIT "-mcpu=cortex-a9 -mfpu=neon -mfloat-abi=hard")
# -Wno-psabi: GCC's note that passing some structs changed in GCC 7.1 is
# noise here — everything in the static agent is built by one compiler.
set(CMAKE_CXX_FLAGS_INIT "-mcpu=cortex-a9 -mfpu=neon -mfloat-abi=hard -Wno-psabi")
set(CMAKE_C_FLAGS_RELEASE "-O2 -DNDEBUG" CACHE STRING "")
set(CMAKE_CXX_FLAGS_RELEASE "-O2 -DNDEBUG" CACHE STRING "")

set(CMAKE_EXE_LINKER_FLAGS_INIT "-static -Wl,--gc-sections")

# No binfmt_misc on CI machines: run target binaries (tests) explicitly.
# QEMU_CPU=cortex-a9 keeps libraries from picking instructions an A9 lacks.
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/bin/env;QEMU_CPU=cortex-a9;/usr/bin/qemu-arm-static)
