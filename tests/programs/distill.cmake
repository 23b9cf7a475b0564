# distill, run as a user runs it, on a small budget: the teacher is train_mnist_best's net saved
# untrained (--epochs 0, the distill_teacher fixture: the test checks the plumbing, not the gain),
# the students train one epoch on 2,000 images. It writes results.json with one pair of runs, both
# students' models and logs, and distill.png; a missing teacher gets one line that says how to make
# it, and a teacher of another architecture (the lenet_model fixture's) one line naming both.
#
# This file has two modes. Included by tests/programs/CMakeLists.txt, it adds the tests. Run as
#   cmake -D CHECK=<report|one_line_error> -D PROGRAM=<program> -D ARGS=<arg|arg|...>
#         [-D EXPECT=<text|text>] -D WORK=<folder> -P distill.cmake
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
    string(JSON runs LENGTH "${report}" runs)
    string(JSON images GET "${report}" train_images)
    string(JSON epochs GET "${report}" epochs)
    string(JSON alone GET "${report}" runs 0 alone test_accuracy)
    string(JSON distilled GET "${report}" runs 0 distilled test_accuracy)
    string(JSON curve LENGTH "${report}" runs 0 distilled validation_accuracy_per_epoch)
    if(NOT runs EQUAL 1 OR NOT images EQUAL 2000 OR NOT epochs EQUAL 1 OR NOT curve EQUAL 1 OR NOT alone GREATER 0.7
       OR distilled LESS 0 OR distilled GREATER 1)
      message(FATAL_ERROR "implausible results.json: ${runs} runs, ${images} images, ${epochs} epochs, ${curve} "
                          "validation points, test accuracy ${alone} alone and ${distilled} distilled: ${ran}")
    endif()
    foreach(file IN ITEMS model_alone_seed1.safetensors model_distilled_seed1.safetensors log_alone_seed1.csv
                          log_distilled_seed1.csv)
      if(NOT EXISTS ${WORK}/${file})
        message(FATAL_ERROR "${file} was not written: ${ran}")
      endif()
    endforeach()
    file(READ ${WORK}/distill.png signature LIMIT 8 HEX)
    if(NOT signature STREQUAL "89504e470d0a1a0a")
      message(FATAL_ERROR "distill.png does not start with the PNG signature (${signature}): ${ran}")
    endif()
    if(NOT out MATCHES "distilled +gain")
      message(FATAL_ERROR "the table is not on stdout: ${ran}")
    endif()
  elseif(CHECK STREQUAL "one_line_error")
    run_program_to_check(--output ${WORK})
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(NOT status EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^distill: ")
      message(FATAL_ERROR "expected exit status 1 and one line \"distill: ...\" on stderr: ${ran}")
    endif()
    foreach(text IN LISTS expected)
      string(FIND "${err}" "${text}" found)
      if(found EQUAL -1)
        message(FATAL_ERROR "expected \"${text}\" on stderr: ${ran}")
      endif()
    endforeach()
    if(EXISTS ${WORK}/results.json)
      message(FATAL_ERROR "results were written: ${ran}")
    endif()
  else()
    message(FATAL_ERROR "unknown CHECK '${CHECK}'")
  endif()
  return()
endif()

set(distill_output ${CMAKE_CURRENT_BINARY_DIR}/distill)
add_test(NAME programs.distill_teacher_fixture
         COMMAND train_mnist_best --epochs 0 --output ${distill_output}/teacher
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
set_tests_properties(programs.distill_teacher_fixture PROPERTIES FIXTURES_SETUP distill_teacher TIMEOUT 600)

add_test(NAME programs.distill_help COMMAND distill --help)
set_tests_properties(programs.distill_help PROPERTIES PASS_REGULAR_EXPRESSION "--temperature")

add_test(NAME programs.distill_report
         COMMAND ${CMAKE_COMMAND} -D CHECK=report -D PROGRAM=$<TARGET_FILE:distill>
                 "-D ARGS=--teacher|${distill_output}/teacher/model.safetensors|--epochs|1|--seeds|1|--train-images|2000|--alpha|0.5"
                 -D WORK=${distill_output}/report -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.distill_report PROPERTIES FIXTURES_REQUIRED distill_teacher WORKING_DIRECTORY
                                                        ${PROJECT_SOURCE_DIR} TIMEOUT 600)

add_test(NAME programs.distill_refuses_missing_teacher
         COMMAND ${CMAKE_COMMAND} -D CHECK=one_line_error -D PROGRAM=$<TARGET_FILE:distill>
                 "-D ARGS=--teacher|${distill_output}/missing.safetensors"
                 "-D EXPECT=distill: ${distill_output}/missing.safetensors: |train_mnist_best"
                 -D WORK=${distill_output}/missing -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.distill_refuses_other_architecture
         COMMAND ${CMAKE_COMMAND} -D CHECK=one_line_error -D PROGRAM=$<TARGET_FILE:distill>
                 "-D ARGS=--teacher|${lenet_run}/model.safetensors"
                 "-D EXPECT=distill: model file ${lenet_run}/model.safetensors was saved by|this program's network is"
                 -D WORK=${distill_output}/other -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.distill_refuses_other_architecture PROPERTIES FIXTURES_REQUIRED lenet_model)
