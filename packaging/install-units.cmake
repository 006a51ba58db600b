# Run at install time (install(CODE) in packaging/CMakeLists.txt): makes the systemd units for
# the prefix in use then, so ExecStart names the installed ccmuxd: /usr/local/bin/ccmuxd for
# `cmake --install build`, /usr/bin/ccmuxd when cpack builds the .deb from the same tree (cpack
# installs into a staging folder and says the real prefix in CCMUX_FINAL_PREFIX).
# In: CCMUX_UNIT_SRC_DIR, CCMUX_UNIT_OUT_DIR, CCMUX_BINDIR_REL, CCMUX_DOCDIR_REL.
if(DEFINED CCMUX_FINAL_PREFIX AND NOT CCMUX_FINAL_PREFIX STREQUAL "")
  set(prefix "${CCMUX_FINAL_PREFIX}")
else()
  set(prefix "${CMAKE_INSTALL_PREFIX}")
endif()
foreach(rel BINDIR_REL DOCDIR_REL)
  if(IS_ABSOLUTE "${CCMUX_${rel}}")
    set(full_${rel} "${CCMUX_${rel}}")
  else()
    set(full_${rel} "${prefix}/${CCMUX_${rel}}")
  endif()
endforeach()
set(CCMUXD "${full_BINDIR_REL}/ccmuxd")
# The user unit's PATH (render_unit() in core/cli/service_unit.cpp makes the same).
set(CCMUX_USER_PATH "%h/.local/bin" /usr/local/bin "${full_BINDIR_REL}" /usr/bin /bin)
list(REMOVE_DUPLICATES CCMUX_USER_PATH)
string(REPLACE ";" ":" CCMUX_USER_PATH "${CCMUX_USER_PATH}")
set(CCMUX_DOC_DIR "${full_DOCDIR_REL}")
# One output folder per prefix: two installs to different prefixes never share a file.
string(MD5 tag "${prefix}")
set(out "${CCMUX_UNIT_OUT_DIR}/${tag}")
configure_file("${CCMUX_UNIT_SRC_DIR}/ccmuxd.service.in" "${out}/system/ccmuxd.service" @ONLY)
configure_file("${CCMUX_UNIT_SRC_DIR}/ccmuxd-user.service.in" "${out}/user/ccmuxd.service" @ONLY)
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE FILES "${out}/system/ccmuxd.service")
file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/user" TYPE FILE FILES "${out}/user/ccmuxd.service")
