# Read by cpack at packaging time: the install scripts see CMAKE_INSTALL_PREFIX = the staging
# folder, so the prefix the package installs into (also with `cpack -D
# CPACK_PACKAGING_INSTALL_PREFIX=...`) reaches install-units.cmake as CCMUX_FINAL_PREFIX.
set(CPACK_CUSTOM_INSTALL_VARIABLES "CCMUX_FINAL_PREFIX=${CPACK_PACKAGING_INSTALL_PREFIX}")
