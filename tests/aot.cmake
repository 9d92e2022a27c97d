# Ahead-of-time compilation (docs/aot.md): examples/aot-c built at build time, and the
# tests that run it and the other AOT programs (tests/lit/aot, run as the ctest test aot_lit).
#
# The example as a user would build it: loom init, loom compile, then the C compiler and
# the linker with loom_runtime and oneDNN only. Two variants of the same main.c: weights
# embedded in the object (static runtime) and weights read from an .npz at create time
# (shared runtime).
set(AOT_OUT ${CMAKE_CURRENT_BINARY_DIR}/aot)
set(AOT_REBER ${CMAKE_SOURCE_DIR}/examples/layers/reber.loom)
file(MAKE_DIRECTORY ${AOT_OUT}/embed ${AOT_OUT}/file)

add_custom_command(
  OUTPUT ${AOT_OUT}/reber.npz
  COMMAND loom init ${AOT_REBER} -o ${AOT_OUT}/reber.npz --seed 1
  DEPENDS loom ${AOT_REBER}
  COMMENT "loom init reber.loom"
  VERBATIM)
foreach(mode embed file)
  if(mode STREQUAL "embed")
    set(weights_flags --weights ${AOT_OUT}/reber.npz)
  else()
    set(weights_flags --weights-file)
  endif()
  add_custom_command(
    OUTPUT ${AOT_OUT}/${mode}/reber.o ${AOT_OUT}/${mode}/reber.h
    COMMAND loom compile ${AOT_REBER} ${weights_flags} -o ${AOT_OUT}/${mode}/reber.o
            --header ${AOT_OUT}/${mode}/reber.h
    DEPENDS loom ${AOT_REBER} ${AOT_OUT}/reber.npz
    COMMENT "loom compile reber.loom (weights: ${mode})"
    VERBATIM)
  add_executable(aot_c_reber_${mode} ${CMAKE_SOURCE_DIR}/examples/aot-c/main.c
                 ${AOT_OUT}/${mode}/reber.o ${AOT_OUT}/${mode}/reber.h)
  target_include_directories(aot_c_reber_${mode} PRIVATE ${AOT_OUT}/${mode})
  set_target_properties(aot_c_reber_${mode} PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)
  target_compile_options(aot_c_reber_${mode} PRIVATE -Wall -Wextra -pedantic -Werror)
endforeach()
target_link_libraries(aot_c_reber_embed PRIVATE loom_runtime DNNL::dnnl)
target_link_libraries(aot_c_reber_file PRIVATE loom_runtime_shared DNNL::dnnl)

# tests/lit/aot needs the programs above and the shared runtime (its tests link more AOT
# programs with the C compiler); the main lit run leaves that directory to this test.
add_custom_target(aot_test_deps ALL DEPENDS aot_c_reber_embed aot_c_reber_file
                  loom_runtime_shared loom)
add_test(NAME aot_lit
         COMMAND ${PYTHON3} ${LIT_PY} -sv --param aot=1 --filter "aot/"
                 ${CMAKE_CURRENT_BINARY_DIR})
# The in-process tests (tests/unit/codegen_aot_test.cpp) also run as part of unit_codegen;
# listed here too so that `ctest -R aot` covers the whole feature.
add_test(NAME aot_unit COMMAND unit_codegen --gtest_filter=Aot*)
