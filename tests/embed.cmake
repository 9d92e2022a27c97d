# The embedding API's end-to-end tests (the unit tests are tests/unit/api_embed*_test.cpp).
#
# embed_examples_cpp / _c: examples/embed-cpp and examples/embed-c built in-tree against
#   libloom.so (loom_shared), run on several models, their printed outputs compared with
#   `loom run` on the same weights and inputs (tests/embed/check_example.py).
# embed_install: `cmake --install` into a temporary prefix, then both examples built as
#   separate projects with find_package(loom) and checked the same way.
set(LOOM_EMBED_DEFAULT_MODEL ${CMAKE_SOURCE_DIR}/examples/shapes/simple_rnn.loom)
add_executable(embed-cpp ${CMAKE_SOURCE_DIR}/examples/embed-cpp/main.cpp)
add_executable(embed-c ${CMAKE_SOURCE_DIR}/examples/embed-c/main.c)
foreach(ex embed-cpp embed-c)
  target_link_libraries(${ex} PRIVATE loom_shared)
  target_compile_definitions(${ex} PRIVATE LOOM_EXAMPLE_MODEL="${LOOM_EMBED_DEFAULT_MODEL}")
endforeach()

set(LOOM_EMBED_MODELS
  ${LOOM_EMBED_DEFAULT_MODEL}
  ${CMAKE_SOURCE_DIR}/examples/shapes/stacked_rnn.loom
  ${CMAKE_SOURCE_DIR}/examples/layers/masked_gru.loom   # an f32 and an i32 input
  ${CMAKE_SOURCE_DIR}/examples/layers/reber.loom)       # token ids
foreach(lang cpp c)
  add_test(NAME embed_examples_${lang}
    COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/embed/check_example.py
            $<TARGET_FILE:loom> $<TARGET_FILE:embed-${lang}>
            ${CMAKE_CURRENT_BINARY_DIR}/embed-out/${lang} ${LOOM_EMBED_MODELS})
endforeach()

add_test(NAME embed_install
  COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/embed/install_test.py
          ${CMAKE_COMMAND} ${CMAKE_GENERATOR} ${CMAKE_BINARY_DIR} ${CMAKE_SOURCE_DIR}
          ${CMAKE_CURRENT_BINARY_DIR}/embed-install)
# Installing needs every installed target built; the in-tree examples make sure of theirs.
set_tests_properties(embed_install PROPERTIES TIMEOUT 600
                     ENVIRONMENT "LOOM_SANITIZE_CFLAGS=${LOOM_SANITIZE_CFLAGS}")
