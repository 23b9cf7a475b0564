# predict, run as a user runs it: it reads tests/data/digit_drawings/ with the one-epoch LeNet-5 of
# the lenet_model fixture, and every bad input (empty, corrupt, truncated, 1x1, blank, a header of
# 20000x20000 pixels, a missing file, a model of another network, a file that is no model) gets a
# non-zero exit status and exactly one line on stderr that names it.
#
# This file has two modes. Included by tests/programs/CMakeLists.txt, it adds the tests. Run as
#   cmake -D CHECK=<check> -D PROGRAM=<program> -D ARGS=<arg|arg|...> [-D EXPECT=<text|text>]
#         [-D JSON=<file>] [-D MIN_ACCURACY=<fraction>] [-D COUNT=<n>] -P predict.cmake
# it runs PROGRAM with ARGS ('|' separates them) and checks its outcome:
#   one_line_error  a non-zero exit status (not a crash) and one line on stderr holding each EXPECT
#   lines_error     the same with COUNT lines on stderr, and every EXPECT on stdout
#   accuracy        exit status 0 and, in the JSON file it wrote, accuracy.fraction >= MIN_ACCURACY
#                   over COUNT images with no errors, and COUNT prepared images saved
#   json_stdout     exit status 0 and stdout a JSON report of COUNT images
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  include(${CMAKE_CURRENT_LIST_DIR}/support/program_checks.cmake)
  run_program_to_check()
  if(CHECK STREQUAL "one_line_error" OR CHECK STREQUAL "lines_error")
    if(status EQUAL 0)
      message(FATAL_ERROR "expected a non-zero exit status: ${ran}")
    endif()
    if(NOT COUNT)
      set(COUNT 1)
    endif()
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(NOT lines EQUAL COUNT OR NOT err MATCHES "\n$")
      message(FATAL_ERROR "expected ${COUNT} line(s) on stderr, got ${lines}: ${ran}")
    endif()
    foreach(text IN LISTS expected)
      string(FIND "${err}${out}" "${text}" found)
      if(found EQUAL -1)
        message(FATAL_ERROR "expected \"${text}\" in the output: ${ran}")
      endif()
    endforeach()
  elseif(CHECK STREQUAL "accuracy")
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "expected exit status 0: ${ran}")
    endif()
    file(READ "${JSON}" report)
    string(JSON accuracy GET "${report}" accuracy fraction)
    string(JSON labelled GET "${report}" accuracy labelled)
    string(JSON errors LENGTH "${report}" errors)
    if(NOT labelled EQUAL COUNT OR NOT errors EQUAL 0)
      message(FATAL_ERROR "expected ${COUNT} labelled images and no errors, got ${labelled} and ${errors}: ${ran}")
    endif()
    if(accuracy LESS MIN_ACCURACY)
      message(FATAL_ERROR "accuracy ${accuracy} is below ${MIN_ACCURACY}: ${ran}")
    endif()
    string(JSON folder GET "${report}" images 0 preparation file)
    get_filename_component(folder "${folder}" DIRECTORY)
    file(GLOB prepared "${folder}/*.png")
    list(LENGTH prepared saved)
    if(NOT saved EQUAL COUNT)
      message(FATAL_ERROR "expected ${COUNT} prepared images in ${folder}, found ${saved}")
    endif()
    message(STATUS "accuracy ${accuracy} over ${labelled} images (bound ${MIN_ACCURACY})")
  elseif(CHECK STREQUAL "json_stdout")
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "expected exit status 0: ${ran}")
    endif()
    string(JSON images ERROR_VARIABLE invalid LENGTH "${out}" images)
    if(invalid OR NOT images EQUAL COUNT)
      message(FATAL_ERROR "expected a JSON report of ${COUNT} images on stdout (${invalid}): ${ran}")
    endif()
    string(JSON digit GET "${out}" images 0 digit)
    string(JSON probability GET "${out}" images 0 top 0 probability)
    message(STATUS "first image read as ${digit} with probability ${probability}")
  else()
    message(FATAL_ERROR "unknown CHECK '${CHECK}'")
  endif()
  return()
endif()

include(${CMAKE_CURRENT_LIST_DIR}/support/program_checks.cmake)

# The program that draws tests/data/digit_drawings/ (its header says how to re-run it), and a test
# that the committed drawings are what it draws.
add_executable(draw_digits ${PROJECT_SOURCE_DIR}/tests/data/draw_digits.cpp)
target_link_libraries(draw_digits PRIVATE ctnn::data ctnn_warnings)
add_test(NAME programs.draw_digits_reproducible
         COMMAND draw_digits --check ${PROJECT_SOURCE_DIR}/tests/data/digit_drawings)

# A model of a network no example program reads: LeNet-5 would be a digit model of the wrong kind
# only by its file, so an untrained net of another shape stands in. Its source is written here
# because it is four lines and only these tests use it.
file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/write_foreign_model.cpp CONTENT [=[
// Saves an untrained model of a network that no example program reads.
#include <ctnn/ctnn.hpp>
#include <ctnn/io/model_file.hpp>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  using Foreign = ctnn::Net<ctnn::Conv<4, 5>, ctnn::MaxPool<2>, ctnn::Dense<10>>::bind<ctnn::Shape<1, 28, 28>>;
  ctnn::save_model(Foreign(1), argv[1]);
}
]=] @ONLY)
add_executable(write_foreign_model ${CMAKE_CURRENT_BINARY_DIR}/write_foreign_model.cpp)
target_link_libraries(write_foreign_model PRIVATE ctnn::data ctnn_warnings)
set(foreign_model ${CMAKE_CURRENT_BINARY_DIR}/foreign_model.safetensors)
add_test(NAME programs.foreign_model_fixture COMMAND write_foreign_model ${foreign_model})
set_tests_properties(programs.foreign_model_fixture PROPERTIES FIXTURES_SETUP foreign_model)

# Bad inputs, a few bytes each: clearer written out here than committed as binaries.
set(bad_inputs ${CMAKE_CURRENT_BINARY_DIR}/predict_bad_inputs)
string(ASCII 137 80 78 71 13 10 26 10 png_signature)
string(ASCII 65 one_byte)
string(REPEAT "~" 1024 light_pixels)
file(WRITE ${bad_inputs}/empty.png "")
file(WRITE ${bad_inputs}/corrupt.png "this is a text file, not an image\n")
file(WRITE ${bad_inputs}/truncated.png "${png_signature}and then nothing a PNG has")
file(WRITE ${bad_inputs}/one_pixel.pgm "P5\n1 1\n255\n${one_byte}")
file(WRITE ${bad_inputs}/blank.pgm "P5\n32 32\n255\n${light_pixels}")
file(WRITE ${bad_inputs}/huge.pgm "P5\n20000 20000\n255\n")

set(model ${lenet_run}/model.safetensors)
set(drawings ${PROJECT_SOURCE_DIR}/tests/data/digit_drawings)
set(predict_output ${CMAKE_CURRENT_BINARY_DIR}/predict)

add_test(NAME programs.predict_help COMMAND predict --help)
set_tests_properties(programs.predict_help PROPERTIES PASS_REGULAR_EXPRESSION "--save-prepared")

# A one-epoch LeNet-5 (98.9% on MNIST's test set) reads 40 of the 40 drawings right; the bound
# leaves room for another compiler's rounding to change the model.
add_test(NAME programs.predict_drawings
         COMMAND ${CMAKE_COMMAND} -D CHECK=accuracy -D PROGRAM=$<TARGET_FILE:predict>
                 "-D ARGS=--model|${model}|--expect-from-names|--output|${predict_output}/drawings.json|--save-prepared|${predict_output}/prepared|${drawings}"
                 -D JSON=${predict_output}/drawings.json -D MIN_ACCURACY=0.85 -D COUNT=40
                 -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.predict_json_stdout
         COMMAND ${CMAKE_COMMAND} -D CHECK=json_stdout -D PROGRAM=$<TARGET_FILE:predict>
                 "-D ARGS=--model|${model}|--json|--top|5|${drawings}/7_thin.png|${drawings}/0_slanted.png" -D COUNT=2
                 -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.predict_drawings programs.predict_json_stdout PROPERTIES FIXTURES_REQUIRED lenet_model)

# Each bad image alone, then mixed with a good one: the good one is still read.
add_bad_input_tests(PROGRAM predict MODEL ${model} FOLDER ${bad_inputs} FIXTURE lenet_model
                    CASES "empty.png|empty file" "corrupt.png|not a PNG, JPEG, BMP or binary PGM/PPM image"
                          "truncated.png|unreadable image header" "one_pixel.pgm|too small to hold a digit"
                          "blank.pgm|no ink" "huge.pgm|20000x20000 pixels is too large" "missing.png|cannot open")
add_test(NAME programs.predict_reads_the_good_among_bad
         COMMAND ${CMAKE_COMMAND} -D CHECK=lines_error -D PROGRAM=$<TARGET_FILE:predict>
                 "-D ARGS=--model|${model}|${bad_inputs}/empty.png|${drawings}/3_thick.png|${bad_inputs}/huge.pgm|${bad_inputs}/corrupt.png"
                 -D COUNT=3 "-D EXPECT=${drawings}/3_thick.png:  " -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.predict_reads_the_good_among_bad PROPERTIES FIXTURES_REQUIRED lenet_model)

# Models: another network's, a training checkpoint, a file that is no safetensors at all.
add_test(NAME programs.predict_refuses_a_foreign_model
         COMMAND ${CMAKE_COMMAND} -D CHECK=one_line_error -D PROGRAM=$<TARGET_FILE:predict>
                 "-D ARGS=--model|${foreign_model}|${drawings}/7_thin.png"
                 "-D EXPECT=${foreign_model}|which this program does not know|Conv<4, 5>" -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.predict_refuses_a_foreign_model PROPERTIES FIXTURES_REQUIRED foreign_model)
add_test(NAME programs.predict_refuses_a_checkpoint
         COMMAND ${CMAKE_COMMAND} -D CHECK=one_line_error -D PROGRAM=$<TARGET_FILE:predict>
                 "-D ARGS=--model|${lenet_run}/checkpoint.safetensors|${drawings}/7_thin.png"
                 "-D EXPECT=checkpoint.safetensors|not a ctnn model file" -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.predict_refuses_a_text_model
         COMMAND ${CMAKE_COMMAND} -D CHECK=one_line_error -D PROGRAM=$<TARGET_FILE:predict>
                 "-D ARGS=--model|${lenet_run}/log.csv|${drawings}/7_thin.png" "-D EXPECT=predict: |log.csv"
                 -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.predict_refuses_a_checkpoint programs.predict_refuses_a_text_model
                     PROPERTIES FIXTURES_REQUIRED lenet_model)
