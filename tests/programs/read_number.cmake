# read_number, run as a user runs it: with the one-epoch LeNet-5 of the lenet_model fixture it
# composes 50 numbers from MNIST test digits and reads them above stated accuracies, reads the
# example images it saved, and refuses bad inputs with one line each and a non-zero exit status.
#
# This file has two modes. Included by tests/programs/CMakeLists.txt, it adds the tests. Run as
#   cmake -D CHECK=<check> -D PROGRAM=<program> -D ARGS=<arg|arg|...> [-D EXPECT=<text|text>]
#         [-D FOLDER=<dir>] [-D MIN_...=<bound>] -P read_number.cmake
# it runs PROGRAM with ARGS ('|' separates them) and checks its outcome:
#   one_line_error  a non-zero exit status (not a crash) and one line on stderr holding each EXPECT
#   composed        exit status 0, and FOLDER/results.json reports digit and number accuracies at
#                   or above MIN_DIGITS and MIN_NUMBERS (by recognition), MIN_SHAPE_DIGITS (by
#                   shape) and MIN_ISOLATED (each digit alone), with 8 example images saved
#   examples        exit status 0 reading FOLDER's example images (added to the end of ARGS), with
#                   a JSON report on stdout in which at least MIN_EXAMPLES read as their names say
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  include(${CMAKE_CURRENT_LIST_DIR}/support/program_checks.cmake)
  if(CHECK STREQUAL "examples")
    file(GLOB examples "${FOLDER}/number_*.png")
    list(SORT examples)
  endif()
  run_program_to_check(${examples})
  if(CHECK STREQUAL "one_line_error")
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(status EQUAL 0 OR NOT lines EQUAL 1 OR NOT err MATCHES "\n$")
      message(FATAL_ERROR "expected a non-zero exit status and one line on stderr: ${ran}")
    endif()
    foreach(text IN LISTS expected)
      string(FIND "${err}" "${text}" found)
      if(found EQUAL -1)
        message(FATAL_ERROR "expected \"${text}\" on stderr: ${ran}")
      endif()
    endforeach()
  elseif(CHECK STREQUAL "composed")
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "expected exit status 0: ${ran}")
    endif()
    file(READ "${FOLDER}/results.json" report)
    foreach(figure IN ITEMS "by_recognition;digit_accuracy;${MIN_DIGITS}" "by_recognition;number_accuracy;${MIN_NUMBERS}"
                            "by_shape;digit_accuracy;${MIN_SHAPE_DIGITS}" ";isolated_digit_accuracy;${MIN_ISOLATED}")
      list(GET figure 0 part)
      list(GET figure 1 name)
      list(GET figure 2 bound)
      if(part)
        string(JSON value GET "${report}" ${part} ${name})
      else()
        string(JSON value GET "${report}" ${name})
      endif()
      message(STATUS "${part} ${name}: ${value} (bound ${bound})")
      if(value LESS bound)
        message(FATAL_ERROR "${part} ${name} ${value} is below ${bound}: ${ran}")
      endif()
    endforeach()
    file(GLOB saved "${FOLDER}/number_*.png")
    list(LENGTH saved count)
    if(NOT count EQUAL 8)
      message(FATAL_ERROR "expected 8 example images in ${FOLDER}, found ${count}")
    endif()
  elseif(CHECK STREQUAL "examples")
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "expected exit status 0: ${ran}")
    endif()
    string(JSON images LENGTH "${out}" images)
    list(LENGTH examples count)
    if(NOT images EQUAL count OR count EQUAL 0)
      message(FATAL_ERROR "expected a JSON report of ${count} images: ${ran}")
    endif()
    set(right 0)
    math(EXPR last "${images} - 1")
    foreach(i RANGE ${last})
      string(JSON path GET "${out}" images ${i} path)
      string(JSON number GET "${out}" images ${i} number)
      string(REGEX REPLACE "^.*number_[0-9]+_([0-9]+)\\.png$" "\\1" truth "${path}")
      if(number STREQUAL truth)
        math(EXPR right "${right} + 1")
      endif()
    endforeach()
    message(STATUS "${right} of ${count} example images read right (bound ${MIN_EXAMPLES})")
    if(right LESS MIN_EXAMPLES)
      message(FATAL_ERROR "only ${right} of ${count} example images read right, expected at least ${MIN_EXAMPLES}")
    endif()
  else()
    message(FATAL_ERROR "unknown CHECK '${CHECK}'")
  endif()
  return()
endif()

include(${CMAKE_CURRENT_LIST_DIR}/support/program_checks.cmake)

set(model ${lenet_run}/model.safetensors)
set(composed ${CMAKE_CURRENT_BINARY_DIR}/read_number_composed)
set(bad_inputs ${CMAKE_CURRENT_BINARY_DIR}/read_number_bad_inputs)
string(ASCII 65 one_byte)
file(WRITE ${bad_inputs}/empty.png "")
file(WRITE ${bad_inputs}/corrupt.jpg "this is a text file, not an image\n")
file(WRITE ${bad_inputs}/one_pixel.pgm "P5\n1 1\n255\n${one_byte}")
file(WRITE ${bad_inputs}/huge.pgm "P5\n20000 20000\n255\n")

add_test(NAME programs.read_number_help COMMAND read_number --help)
set_tests_properties(programs.read_number_help PROPERTIES PASS_REGULAR_EXPRESSION "--compose")
add_test(NAME programs.read_number_needs_input COMMAND read_number)
set_tests_properties(programs.read_number_needs_input PROPERTIES WILL_FAIL TRUE)

# 50 numbers of 3 to 8 digits (seed 1). The one-epoch LeNet-5 (98.9% on MNIST's test set) reads,
# by recognition, 76% of the numbers and 95.0% of the digits; by shape, 90.4% of the digits; and
# each digit alone, 97.9%. The bounds leave room for another compiler's rounding to change the model.
add_test(NAME programs.read_number_composed
         COMMAND ${CMAKE_COMMAND} -D CHECK=composed -D PROGRAM=$<TARGET_FILE:read_number>
                 "-D ARGS=--model|${model}|--compose|50|--seed|1|--output|${composed}" -D FOLDER=${composed}
                 -D MIN_DIGITS=0.88 -D MIN_NUMBERS=0.6 -D MIN_SHAPE_DIGITS=0.85 -D MIN_ISOLATED=0.95
                 -P ${CMAKE_CURRENT_LIST_FILE}
         WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})  # where data/ and ../shared/data are found, as for training
set_tests_properties(programs.read_number_composed PROPERTIES FIXTURES_REQUIRED lenet_model
                     FIXTURES_SETUP read_number_examples)
# The saved examples read back from their PNG files.
add_test(NAME programs.read_number_reads_files
         COMMAND ${CMAKE_COMMAND} -D CHECK=examples -D PROGRAM=$<TARGET_FILE:read_number>
                 "-D ARGS=--model|${model}|--json" -D FOLDER=${composed} -D MIN_EXAMPLES=4
                 -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.read_number_reads_files PROPERTIES FIXTURES_REQUIRED "lenet_model;read_number_examples")

add_bad_input_tests(PROGRAM read_number MODEL ${model} FOLDER ${bad_inputs} FIXTURE lenet_model
                    CASES "empty.png|empty file" "corrupt.jpg|not a PNG, JPEG, BMP or binary PGM/PPM image"
                          "one_pixel.pgm|too small to hold a digit" "huge.pgm|20000x20000 pixels is too large")
add_test(NAME programs.read_number_refuses_a_foreign_model
         COMMAND ${CMAKE_COMMAND} -D CHECK=one_line_error -D PROGRAM=$<TARGET_FILE:read_number>
                 "-D ARGS=--model|${CMAKE_CURRENT_BINARY_DIR}/foreign_model.safetensors|--compose|5"
                 "-D EXPECT=foreign_model.safetensors|which this program does not know" -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.read_number_refuses_a_foreign_model PROPERTIES FIXTURES_REQUIRED foreign_model)
