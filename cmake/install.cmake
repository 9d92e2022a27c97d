# `cmake --install`: the loom tool, the public headers, the libraries and a CMake package.
#
#   find_package(loom)  gives
#     loom::loom            libloom.so, the embedding library (<loom/loom.h>, <loom/loom_c.h>):
#                           one shared library holding the whole compiler, exporting only the
#                           public API; it needs LLVM's shared library, oneDNN, fmt and libzip
#     loom::runtime         libloom_runtime.a, what AOT objects link against (+ oneDNN, libzip)
#     loom::runtime_shared  libloom_runtime.so, the same as a shared library (when built)
#
# The dependencies are found again by loomConfig.cmake (see cmake/loomConfig.cmake.in): LLVM
# and fmt through their own packages, oneDNN and libzip as imported targets made the way the
# top-level CMakeLists.txt makes them (Debian's oneDNN package config wants OpenCL; libzip's
# wants its command-line tools).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(LOOM_VERSION 0.1.0)
set(LOOM_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/loom)

install(TARGETS loom RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES ${CMAKE_SOURCE_DIR}/api/loom/loom.h ${CMAKE_SOURCE_DIR}/api/loom/loom_c.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/loom)

set(LOOM_EXPORTED loom_shared loom_runtime)
set_target_properties(loom_runtime PROPERTIES EXPORT_NAME runtime)
if(TARGET loom_runtime_shared)
  set_target_properties(loom_runtime_shared PROPERTIES EXPORT_NAME runtime_shared)
  list(APPEND LOOM_EXPORTED loom_runtime_shared)
endif()
# loom_shared has its include directory already (api/CMakeLists.txt).
foreach(t loom_runtime loom_runtime_shared)
  if(TARGET ${t})
    target_include_directories(${t} INTERFACE $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  endif()
endforeach()
install(TARGETS ${LOOM_EXPORTED} EXPORT loomTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT loomTargets NAMESPACE loom:: DESTINATION ${LOOM_CMAKE_DIR})

# Where this build found its dependencies, for loomConfig.cmake to look first.
get_filename_component(LOOM_DNNL_LIBDIR ${DNNL_LIBRARY} DIRECTORY)
set(LOOM_DNNL_INCLUDEDIR ${DNNL_INCLUDE_DIR})
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/loomConfig.cmake.in
  ${CMAKE_BINARY_DIR}/cmake/loomConfig.cmake INSTALL_DESTINATION ${LOOM_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/cmake/loomConfigVersion.cmake
  VERSION ${LOOM_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/cmake/loomConfig.cmake
              ${CMAKE_BINARY_DIR}/cmake/loomConfigVersion.cmake
        DESTINATION ${LOOM_CMAKE_DIR})
