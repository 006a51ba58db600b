# ccmux_add_plugin(<target> SOURCES...): a MODULE library with hidden visibility
# that links the SDK; only the Boost.DLL entry alias is exported.
function(ccmux_add_plugin target)
  add_library(${target} MODULE ${ARGN})
  target_link_libraries(${target} PRIVATE ccmux::sdk)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    CXX_STANDARD 20
    CXX_STANDARD_REQUIRED ON)
endfunction()
