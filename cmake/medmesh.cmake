# Helpers shared by every folder.

# medmesh_test(NAME SOURCES... [LIBS ...] [LABELS ...] [FILTER gtest-filter] [LIBRARY_FLAGS]): a
# GoogleTest binary beside the code. FILTER leaves out tests that another registration of the
# same binary runs (the PostgreSQL instances of a test written for both backends,
# medmesh_postgres_variant). LIBRARY_FLAGS: the sources instantiate code under test (templates)
# and keep the preset's optimisation instead of MEDMESH_TEST_CXX_FLAGS.
function(medmesh_test name)
  cmake_parse_arguments(T "LIBRARY_FLAGS" "FILTER" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} medmesh_testing GTest::gtest_main GTest::gmock)
  target_compile_options(${name} PRIVATE ${MEDMESH_WARNINGS})
  # The test sources' own optimisation level where a preset sets one (ADR 0012): the code under
  # test is in the libraries, compiled with the preset's flags.
  if(MEDMESH_TEST_CXX_FLAGS AND NOT T_LIBRARY_FLAGS)
    separate_arguments(test_flags UNIX_COMMAND "${MEDMESH_TEST_CXX_FLAGS}")
    target_compile_options(${name} PRIVATE ${test_flags})
  endif()
  target_compile_definitions(${name} PRIVATE MEDMESH_SHARED_DIR="${MEDMESH_SHARED_DIR}")
  # MEDMESH_TEST_PG unset: a binary written for both backends (testing/test_backend.h) runs on
  # SQLite here even if the caller's environment names a cluster; its PostgreSQL variant
  # (medmesh_postgres_variant, src/store/CMakeLists.txt) sets it.
  set(filter_args)
  if(T_FILTER)
    set(filter_args TEST_FILTER "${T_FILTER}")
  endif()
  gtest_discover_tests(${name} TEST_PREFIX "${name}." DISCOVERY_TIMEOUT 60 ${filter_args}
                       PROPERTIES LABELS "${T_LABELS}"
                                  ENVIRONMENT_MODIFICATION "MEDMESH_TEST_PG=unset:")
endfunction()

# medmesh_benchmark_target(NAME): a benchmark beside the code (bench/ holds the others): not in
# the default target unless MEDMESH_BENCH_IN_ALL.
function(medmesh_benchmark_target name)
  if(NOT MEDMESH_BENCH_IN_ALL)
    set_target_properties(${name} PROPERTIES EXCLUDE_FROM_ALL TRUE)
  endif()
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
