# The data-path stores of src/store: device outbox, cloudlet forward queue, encrypted reading
# store, IDS event log and the SQLite wrapped-key store (included from CMakeLists.txt here).
find_package(SQLiteCpp CONFIG REQUIRED)

add_library(medmesh_store_queues
  ${CMAKE_CURRENT_LIST_DIR}/sqlite_database.cc
  ${CMAKE_CURRENT_LIST_DIR}/internal/queue_sqlite.cc
  ${CMAKE_CURRENT_LIST_DIR}/durable_queue.cc
  ${CMAKE_CURRENT_LIST_DIR}/outbox.cc
  ${CMAKE_CURRENT_LIST_DIR}/forward_queue.cc
  ${CMAKE_CURRENT_LIST_DIR}/reading_store.cc
  ${CMAKE_CURRENT_LIST_DIR}/ids_event_log.cc
  ${CMAKE_CURRENT_LIST_DIR}/sqlite_wrapped_key_store.cc
)
target_include_directories(medmesh_store_queues PUBLIC ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(medmesh_store_queues
  PUBLIC medmesh_core medmesh_crypto medmesh_wire
  PRIVATE SQLiteCpp)
target_compile_options(medmesh_store_queues PRIVATE ${MEDMESH_WARNINGS})

if(MEDMESH_BUILD_TESTS)
  medmesh_test(store_queues_test
    SOURCES
      ${CMAKE_CURRENT_LIST_DIR}/sqlite_database_test.cc
      ${CMAKE_CURRENT_LIST_DIR}/outbox_test.cc
      ${CMAKE_CURRENT_LIST_DIR}/forward_queue_test.cc
      ${CMAKE_CURRENT_LIST_DIR}/reading_store_test.cc
      ${CMAKE_CURRENT_LIST_DIR}/ids_event_log_test.cc
      ${CMAKE_CURRENT_LIST_DIR}/sqlite_wrapped_key_store_test.cc
    LIBS medmesh_store_queues SQLiteCpp)
  # The stores on a failing disk (testing/faulty_sqlite_vfs.h).
  medmesh_test(store_fault_test
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/fault_injection_test.cc
    LIBS medmesh_store_queues medmesh_testing_faults SQLiteCpp)
endif()

if(MEDMESH_BUILD_BENCH)
  # The operator readings query against history length (not run by tests).
  add_executable(reading_store_benchmark ${CMAKE_CURRENT_LIST_DIR}/reading_store_benchmark.cc)
  target_link_libraries(reading_store_benchmark
    PRIVATE medmesh_store_queues medmesh_testing benchmark::benchmark)
  target_compile_options(reading_store_benchmark PRIVATE ${MEDMESH_WARNINGS})
  medmesh_benchmark_target(reading_store_benchmark)
endif()
