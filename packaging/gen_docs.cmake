# Runs the built mkmaster to write what the package installs from the
# command table itself: the man pages (gzip -9n, as Debian policy wants)
# and the bash completion; and compresses the Debian changelog.
#   cmake -DMKMASTER=... -DOUT=... -DCHANGELOG=... -P gen_docs.cmake
file(REMOVE_RECURSE ${OUT}/man1)
execute_process(COMMAND ${MKMASTER} man --out ${OUT}/man1 COMMAND_ERROR_IS_FATAL ANY)
file(GLOB pages ${OUT}/man1/*.1)
foreach(p ${pages})
  execute_process(COMMAND gzip -9nf ${p} COMMAND_ERROR_IS_FATAL ANY)
endforeach()
file(MAKE_DIRECTORY ${OUT}/completions)
execute_process(COMMAND ${MKMASTER} completion bash OUTPUT_FILE ${OUT}/completions/mkmaster COMMAND_ERROR_IS_FATAL ANY)
configure_file(${CHANGELOG} ${OUT}/changelog.Debian COPYONLY)
execute_process(COMMAND gzip -9nf ${OUT}/changelog.Debian COMMAND_ERROR_IS_FATAL ANY)
file(TOUCH ${OUT}/stamp)
