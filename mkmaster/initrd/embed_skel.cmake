# cmake -DOUT=file.cpp -DFILES="a|b" -P embed_skel.cmake
# Writes a C++ file holding each skel script verbatim, so the mkmaster
# binary needs no data directory at run time and edits to skel/ rebuild it.
set(body "// Generated from mkmaster/initrd/skel/ by embed_skel.cmake: do not edit.\n#include \"mkmaster/initrd/skel.h\"\n\nnamespace initrd {\n\nconst std::vector<SkelFile>& skel_files() {\n  static const std::vector<SkelFile> files = {\n")
string(REPLACE "|" ";" FILES "${FILES}")
foreach(f ${FILES})
  get_filename_component(name ${f} NAME)
  file(READ ${f} content)
  string(FIND "${content}" ")mkskel\"" clash)
  if(NOT clash EQUAL -1)
    message(FATAL_ERROR "${f} contains the raw-string delimiter )mkskel\"")
  endif()
  string(APPEND body "    {\"${name}\", R\"mkskel(${content})mkskel\"},\n")
endforeach()
string(APPEND body "  };\n  return files;\n}\n\n}  // namespace initrd\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
