# Writes OUTPUT (cw_version.h, read by core/base/version.cpp): the project VERSION and the git commit of
# SOURCE_DIR (`git describe --always --dirty`, "unknown" outside a git checkout). Runs on every build; the file
# changes only when they do.
set(commit "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${SOURCE_DIR}" describe --always --dirty --abbrev=12
                  OUTPUT_VARIABLE described RESULT_VARIABLE rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(rc EQUAL 0 AND described)
    set(commit "${described}")
  endif()
endif()
file(CONFIGURE OUTPUT "${OUTPUT}" CONTENT "#pragma once
#define CW_VERSION \"${VERSION}\"
#define CW_GIT_COMMIT \"${commit}\"
" @ONLY)
