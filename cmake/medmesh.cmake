# Helpers shared by every folder.

# medmesh_test(NAME SOURCES... [LIBS ...] [LABELS ...]): a GoogleTest binary beside the code.
function(medmesh_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} medmesh_testing GTest::gtest_main GTest::gmock)
  target_compile_options(${name} PRIVATE ${MEDMESH_WARNINGS})
  target_compile_definitions(${name} PRIVATE MEDMESH_SHARED_DIR="${MEDMESH_SHARED_DIR}")
  gtest_discover_tests(${name} TEST_PREFIX "${name}." DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS "${T_LABELS}")
endfunction()

# medmesh_fuzzer(NAME SOURCE LIBS... CORPUS dir): a libFuzzer target (fuzz preset), and in every
# build a test that runs the seed corpus through the same entry point.
function(medmesh_fuzzer name)
  cmake_parse_arguments(F "" "SOURCE;CORPUS" "LIBS" ${ARGN})
  if(MEDMESH_FUZZ)
    add_executable(${name} ${F_SOURCE})
    target_link_libraries(${name} PRIVATE ${F_LIBS})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  endif()
  if(MEDMESH_BUILD_TESTS)
    add_executable(${name}_corpus_test ${F_SOURCE} ${PROJECT_SOURCE_DIR}/src/testing/fuzz_corpus_main.cc)
    target_link_libraries(${name}_corpus_test PRIVATE ${F_LIBS})
    add_test(NAME ${name}_corpus COMMAND ${name}_corpus_test ${F_CORPUS})
  endif()
endfunction()
