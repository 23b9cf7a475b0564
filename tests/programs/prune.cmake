# prune, run as a user runs it on the one-epoch LeNet-5 of the lenet_model fixture: pruned over the
# whole net to 50% and 90% of its weights and fine-tuned one epoch on 5,000 images each, it writes
# results.json, where exactly round(s n) weights are pruned, the nonzero parameters shrink as the
# sparsity grows and the fine-tuned accuracy stays high, a pruned model per row and prune.png; a
# missing model and a file that is no model each give one line on stderr and exit status 1.
#
# This file has two modes. Included by tests/programs/CMakeLists.txt, it adds the tests. Run as
#   cmake -D CHECK=<report|one_line_error> -D PROGRAM=<program> -D ARGS=<arg|arg|...>
#         [-D EXPECT=<text|text>] -D WORK=<folder> -P prune.cmake
# it runs PROGRAM with ARGS ('|' separates them) and checks its outcome.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  include(${CMAKE_CURRENT_LIST_DIR}/support/program_checks.cmake)
  file(REMOVE_RECURSE ${WORK})
  if(CHECK STREQUAL "report")
    run_program_to_check(--output ${WORK})
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "expected exit status 0: ${ran}")
    endif()
    file(READ ${WORK}/results.json report)
    string(JSON dense GET "${report}" dense_test_accuracy)
    string(JSON parameters GET "${report}" param_count)
    string(JSON rows LENGTH "${report}" results)
    if(NOT rows EQUAL 2 OR NOT dense GREATER 0.9)
      message(FATAL_ERROR "implausible results.json: ${rows} rows, dense accuracy ${dense}: ${ran}")
    endif()
    # The rows are the --sparsity list's 50% and 90%: exactly round(p * weights / 100) weights pruned.
    set(previous_nonzero ${parameters})
    foreach(row percent IN ZIP_LISTS "0;1" "50;90")
      string(JSON weights GET "${report}" results ${row} prunable_weights)
      string(JSON pruned GET "${report}" results ${row} pruned_weights)
      string(JSON nonzero GET "${report}" results ${row} nonzero_parameters)
      string(JSON tuned GET "${report}" results ${row} fine_tuned_test_accuracy)
      string(JSON layers LENGTH "${report}" results ${row} layers)
      string(JSON model GET "${report}" results ${row} model)
      math(EXPR expected "(${weights} * ${percent} + 50) / 100")
      if(NOT pruned EQUAL expected OR NOT nonzero LESS previous_nonzero OR NOT tuned GREATER 0.9
         OR NOT layers EQUAL 4 OR NOT EXISTS ${model})
        message(FATAL_ERROR "row ${row}: ${pruned} of ${weights} weights pruned (expected ${expected}), ${nonzero} "
                            "nonzero parameters (before: ${previous_nonzero}), fine-tuned accuracy ${tuned}, "
                            "${layers} layers, model ${model}: ${ran}")
      endif()
      set(previous_nonzero ${nonzero})
    endforeach()
    file(READ ${WORK}/prune.png signature LIMIT 8 HEX)
    if(NOT signature STREQUAL "89504e470d0a1a0a")
      message(FATAL_ERROR "prune.png does not start with the PNG signature (${signature}): ${ran}")
    endif()
    if(NOT out MATCHES "fine-tuned" OR NOT out MATCHES "weights pruned per layer")
      message(FATAL_ERROR "the tables are not on stdout: ${ran}")
    endif()
  elseif(CHECK STREQUAL "one_line_error")
    file(MAKE_DIRECTORY ${WORK})
    file(WRITE ${WORK}/text.safetensors "this is not a model file\n")
    run_program_to_check(--output ${WORK}/run)
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(NOT status EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^prune: ")
      message(FATAL_ERROR "expected exit status 1 and one line \"prune: ...\" on stderr: ${ran}")
    endif()
    foreach(text IN LISTS expected)
      string(FIND "${err}" "${text}" found)
      if(found EQUAL -1)
        message(FATAL_ERROR "expected \"${text}\" on stderr: ${ran}")
      endif()
    endforeach()
    if(EXISTS ${WORK}/run/results.json)
      message(FATAL_ERROR "results were written: ${ran}")
    endif()
  else()
    message(FATAL_ERROR "unknown CHECK '${CHECK}'")
  endif()
  return()
endif()

set(prune_output ${CMAKE_CURRENT_BINARY_DIR}/prune)
add_test(NAME programs.prune_help COMMAND prune --help)
set_tests_properties(programs.prune_help PROPERTIES PASS_REGULAR_EXPRESSION "--sparsity")

add_test(NAME programs.prune_global
         COMMAND ${CMAKE_COMMAND} -D CHECK=report -D PROGRAM=$<TARGET_FILE:prune>
                 "-D ARGS=--model|${lenet_run}/model.safetensors|--sparsity|0.5,0.9|--scope|global|--epochs|1|--train-images|5000"
                 -D WORK=${prune_output}/global -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.prune_global PROPERTIES FIXTURES_REQUIRED lenet_model WORKING_DIRECTORY
                                                      ${PROJECT_SOURCE_DIR} TIMEOUT 600)

foreach(name IN ITEMS missing text)
  set(work ${prune_output}/bad_${name})
  add_test(NAME programs.prune_refuses_${name}_model
           COMMAND ${CMAKE_COMMAND} -D CHECK=one_line_error -D PROGRAM=$<TARGET_FILE:prune>
                   "-D ARGS=--model|${work}/${name}.safetensors" "-D EXPECT=prune: ${work}/${name}.safetensors"
                   -D WORK=${work} -P ${CMAKE_CURRENT_LIST_FILE})
  set_tests_properties(programs.prune_refuses_${name}_model PROPERTIES WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
endforeach()
