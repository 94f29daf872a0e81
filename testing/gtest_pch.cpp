// The object that carries the GoogleTest precompiled header (CMakeLists.txt).
