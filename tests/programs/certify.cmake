# certify, run as a user runs it: on the one-epoch LeNet-5 of the lenet_model fixture and 100 test
# images it exits 0 and writes report.json and certify.png, where at every eps the verified
# accuracy (a lower bound of the robust accuracy) is at most the PGD accuracy (an upper bound),
# which is at most the clean accuracy; a bad model file gives one line on stderr and exit status 1.
# Included by tests/programs/CMakeLists.txt, this file adds the tests; run with -P it checks them.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  file(REMOVE_RECURSE ${WORK})
  if(CHECK STREQUAL "report")
    execute_process(COMMAND ${PROGRAM} --model ${RUN}/model.safetensors --images 100 --eps 0.02,0.1 --attack-steps 5
                            --curve-images 40 --output ${WORK} WORKING_DIRECTORY ${SOURCE_DIR}
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "certify failed (${code}):\n${out}\n${err}")
    endif()
    file(READ ${WORK}/certify.png signature LIMIT 8 HEX)
    if(NOT signature STREQUAL "89504e470d0a1a0a")
      message(FATAL_ERROR "certify.png does not start with the PNG signature (${signature})")
    endif()
    file(READ ${WORK}/report.json report)
    string(JSON images GET "${report}" images)
    string(JSON clean GET "${report}" clean_accuracy)
    string(JSON rows LENGTH "${report}" results)
    string(JSON points LENGTH "${report}" curve)
    if(NOT images EQUAL 100 OR NOT rows EQUAL 2 OR NOT points EQUAL 9 OR NOT clean GREATER 0.9)
      message(FATAL_ERROR "implausible report.json: ${images} images, ${rows} rows, ${points} curve points, "
                          "clean accuracy ${clean}")
    endif()
    foreach(list IN ITEMS results curve)
      string(JSON count LENGTH "${report}" ${list})
      math(EXPR last "${count} - 1")
      foreach(row RANGE ${last})
        string(JSON eps GET "${report}" ${list} ${row} epsilon)
        string(JSON verified GET "${report}" ${list} ${row} verified_accuracy)
        string(JSON attacked GET "${report}" ${list} ${row} pgd_accuracy)
        # The curve runs on fewer images than the clean accuracy: only the first inequality holds.
        if(verified GREATER attacked OR (list STREQUAL "results" AND attacked GREATER clean))
          message(FATAL_ERROR "${list} at eps ${eps}: verified ${verified} <= PGD ${attacked} <= clean ${clean} "
                              "does not hold")
        endif()
      endforeach()
    endforeach()
    string(FIND "${out}" "verified" table)
    if(table EQUAL -1)
      message(FATAL_ERROR "certify printed no table:\n${out}")
    endif()
    return()
  endif()

  # CHECK "bad": exit status 1 and one line "certify: <file>: ..." for a missing file and a file
  # that is no model.
  file(MAKE_DIRECTORY ${WORK})
  file(WRITE ${WORK}/text.safetensors "this is not a model file\n")
  foreach(model IN ITEMS ${WORK}/missing.safetensors ${WORK}/text.safetensors)
    execute_process(COMMAND ${PROGRAM} --model ${model} --output ${WORK}/report RESULT_VARIABLE code
                    OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(NOT code EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^certify: ${model}")
      message(FATAL_ERROR "${model}: expected exit status 1 and one line \"certify: ${model}...\", got status "
                          "${code} and:\n${err}")
    endif()
    if(EXISTS ${WORK}/report/report.json)
      message(FATAL_ERROR "${model}: a report was written")
    endif()
  endforeach()
  return()
endif()

set(certify_check -DPROGRAM=$<TARGET_FILE:certify> -DRUN=${lenet_run} -DSOURCE_DIR=${PROJECT_SOURCE_DIR})
add_test(NAME programs.certify_report
         COMMAND ${CMAKE_COMMAND} ${certify_check} -DCHECK=report -DWORK=${CMAKE_CURRENT_BINARY_DIR}/certify_report
                 -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.certify_bad_model
         COMMAND ${CMAKE_COMMAND} ${certify_check} -DCHECK=bad -DWORK=${CMAKE_CURRENT_BINARY_DIR}/certify_bad
                 -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.certify_report PROPERTIES FIXTURES_REQUIRED lenet_model TIMEOUT 300)
add_test(NAME programs.certify_help COMMAND certify --help)
set_tests_properties(programs.certify_help PROPERTIES PASS_REGULAR_EXPRESSION "--attack-steps")
