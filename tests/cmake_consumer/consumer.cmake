# Run with cmake -P. STEP is one of
#   stage             install CTNN_BINARY_DIR into a fresh STAGE prefix;
#   find_package      configure PROJECT_DIR in WORK_DIR against STAGE, build, run, inspect;
#   add_subdirectory  the same with ctnn's source tree CTNN_SOURCE_DIR added as a subdirectory.
# The consumer gets the outer build's compiler and generator, and nothing else from it.
cmake_minimum_required(VERSION 3.21)

function(run)
  string(REPLACE ";" " " shown "${ARGN}")
  message(STATUS "+ ${shown}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
  message("${output}")
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${shown}")
  endif()
  set(output "${output}" PARENT_SCOPE)
endfunction()

function(expect text regex what)
  if(NOT text MATCHES "${regex}")
    message(FATAL_ERROR "${what}: expected to match '${regex}'")
  endif()
endfunction()

set(config_args)
if(CONFIG)
  set(config_args --config ${CONFIG})
endif()

if(STEP STREQUAL "stage")
  file(REMOVE_RECURSE ${STAGE})
  run(${CMAKE_COMMAND} --install ${CTNN_BINARY_DIR} --prefix ${STAGE} ${config_args})
  return()
endif()

set(configure_args -S ${PROJECT_DIR} -B ${WORK_DIR} -G ${CMAKE_GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_BUILD_TYPE=${CONFIG} -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
    -DCTNN_CONSUMER_MODE=${STEP})
if(STEP STREQUAL "find_package")
  # Only the staged prefix: no package registry, so a stray ctnn elsewhere cannot stand in.
  list(APPEND configure_args -DCMAKE_PREFIX_PATH=${STAGE} -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
elseif(STEP STREQUAL "add_subdirectory")
  list(APPEND configure_args -DCTNN_SOURCE_DIR=${CTNN_SOURCE_DIR})
else()
  message(FATAL_ERROR "unknown STEP '${STEP}'")
endif()

file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} ${configure_args})
file(STRINGS ${WORK_DIR}/CMakeCache.txt cache)
if(STEP STREQUAL "find_package")
  list(FILTER cache INCLUDE REGEX "^ctnn_DIR:")
  string(FIND "${cache}" "ctnn_DIR:PATH=${STAGE}/" at)
  if(NOT at EQUAL 0)
    message(FATAL_ERROR "ctnn must come from the staged install ${STAGE}, not: ${cache}")
  endif()
else()
  # Not top level, so CTNN_BUILD_TESTS/EXAMPLES/BENCH default to OFF (the project also fails to
  # configure if ctnn_test_main or ctnn_header_check exists).
  list(FILTER cache INCLUDE REGEX "^CTNN_BUILD_(TESTS|EXAMPLES|BENCH):")
  list(LENGTH cache options)
  expect("${options}" "^3$" "CTNN_BUILD_TESTS, _EXAMPLES and _BENCH in the cache")
  foreach(option IN LISTS cache)
    expect("${option}" "=OFF$" "${option}")
  endforeach()
endif()

run(${CMAKE_COMMAND} --build ${WORK_DIR} ${config_args} -j2)

# ctnn forces no flags on its consumers: no warnings-as-errors, no -march=native, none of the
# warning set of its private ctnn_warnings target.
file(READ ${WORK_DIR}/compile_commands.json commands)
expect("${commands}" "main\\.cpp" "compile_commands.json lists the consumer")
foreach(flag IN ITEMS -march=native -Werror -Wpedantic -Wextra)
  string(FIND "${commands}" "${flag}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "ctnn put ${flag} on the consumer's command line:\n${commands}")
  endif()
endforeach()

foreach(program IN ITEMS consumer consumer_data)
  set(executable ${WORK_DIR}/${program})
  if(NOT EXISTS ${executable})
    set(executable ${WORK_DIR}/${CONFIG}/${program})  # multi-config generators
  endif()
  run(${executable})
  set(${program}_output "${output}")
endforeach()
expect("${consumer_output}" "param_count 410\n" "consumer output")
expect("${consumer_output}" "forward 10 logits finite, class [0-9]\n" "consumer output")
expect("${consumer_data_output}" "^zlib [0-9.]+, hdf5 [0-9]+\\.[0-9]+\\.[0-9]+" "consumer_data output")
