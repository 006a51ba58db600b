# Debian packages from the build tree, made by packaging/make-debs.sh (cpack -G DEB):
#   ccmux          ccmuxd, ccmux, ccmux-hook, ccmux-install-claude, the plugins, the web page,
#                  the default policy, both systemd units, the README
#   ccmux-sdk-dev  the plugin SDK headers, its CMake package and the example plugin
# The tree is configured for /usr/local (the README's commands) and packaged under /usr
# without a rebuild: install destinations are relative, units are made at install time, and
# the binaries find their files relative to themselves.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME ccmux)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "ccmux maintainers <ccmux@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "host for Claude Code sessions, driven from anywhere")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Tells the install scripts that prefix (they see the staging folder): the units name /usr/bin/ccmuxd.
set(CPACK_PROJECT_CONFIG_FILE "${CMAKE_CURRENT_LIST_DIR}/cpack-project.cmake")
# Debug info stays in the build tree (RelWithDebInfo): the packages carry stripped binaries.
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ccmux sdk)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_CCMUX_PACKAGE_NAME ccmux)
set(CPACK_DEBIAN_CCMUX_PACKAGE_SECTION admin)
# Debian's first description line is CPACK_PACKAGE_DESCRIPTION_SUMMARY; these are the rest.
set(CPACK_COMPONENT_CCMUX_DESCRIPTION "ccmuxd supervises claude processes, stores every event in SQLite and routes every
 tool-permission request through Lua policies, plugins and you (CLI, phone, Telegram).
 `ccmux-install-claude` installs the claude CLI version it is tested with.")
# Shared libraries from dpkg-shlibdeps; curl and ca-certificates for ccmux-install-claude;
# procps for /bin/kill (the units' ExecReload).
set(CPACK_DEBIAN_CCMUX_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_CCMUX_PACKAGE_DEPENDS "curl, ca-certificates, procps")
# libnats3.4: the NATS C client the fleet plugin loads (dpkg-shlibdeps finds it too once the
# plugin links it; named here so a package with the plugin never lacks it).
if(CCMUX_WITH_FLEET)
  string(APPEND CPACK_DEBIAN_CCMUX_PACKAGE_DEPENDS ", libnats3.4")
endif()
set(CPACK_DEBIAN_CCMUX_PACKAGE_RECOMMENDS "systemd, git")  # git: worktrees (ccmux new --worktree) and the gitlab plugin
# nats-server: a fleet's hub, or a machine's own leaf node behind NAT (share/doc/ccmux/nats/).
set(CPACK_DEBIAN_CCMUX_PACKAGE_SUGGESTS "nats-server")
set(CPACK_DEBIAN_CCMUX_PACKAGE_CONTROL_EXTRA
  "${CMAKE_CURRENT_LIST_DIR}/deb/prerm;${CMAKE_CURRENT_LIST_DIR}/deb/postrm")

set(CPACK_DEBIAN_SDK_PACKAGE_NAME ccmux-sdk-dev)
set(CPACK_DEBIAN_SDK_PACKAGE_SECTION devel)
set(CPACK_DEBIAN_SDK_PACKAGE_ARCHITECTURE all)
set(CPACK_COMPONENT_SDK_DESCRIPTION "The plugin SDK of ccmux: the C ABI and the header-only C++ wrapper ccmux plugins are written with, the CMake package
 ccmuxSDK (find_package(ccmuxSDK), ccmux_add_plugin()) and the hello-plugin example.")
# plugin.hpp includes Boost.DLL, json_bounds.hpp nlohmann/json; plugins load into this ccmux.
set(CPACK_DEBIAN_SDK_PACKAGE_DEPENDS "ccmux (= ${PROJECT_VERSION}), libboost-dev, nlohmann-json3-dev")
set(CPACK_DEBIAN_SDK_PACKAGE_RECOMMENDS "cmake, g++")

include(CPack)
