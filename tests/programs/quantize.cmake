# quantize, run as a user runs it: on the one-epoch LeNet-5 of the lenet_model fixture, calibrated
# on 100 training images and compared on 500 test images, it exits 0 and writes results.json and
# model_int8.safetensors, where the int8 model is within 2 points of the float one, agrees with it
# on 97% of the predictions or more, is under a third of its file size, and reads back to
# identical outputs; a bad model file gives one line on stderr and exit status 1.
# Included by tests/programs/CMakeLists.txt, this file adds the tests; run with -P it checks them.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  file(REMOVE_RECURSE ${WORK})
  if(CHECK STREQUAL "report")
    execute_process(COMMAND ${PROGRAM} --model ${RUN}/model.safetensors --images 500 --calibration-images 100
                            --repeats 1 --output ${WORK} WORKING_DIRECTORY ${SOURCE_DIR}
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "quantize failed (${code}):\n${out}\n${err}")
    endif()
    file(READ ${WORK}/model_int8.safetensors header OFFSET 8 LIMIT 1 HEX)
    if(NOT header STREQUAL "7b")
      message(FATAL_ERROR "model_int8.safetensors has no JSON header after its 8-byte length")
    endif()
    file(READ ${WORK}/results.json report)
    string(JSON images GET "${report}" test_images)
    string(JSON float_accuracy GET "${report}" float accuracy)
    string(JSON int8_accuracy GET "${report}" int8 accuracy)
    string(JSON agreement GET "${report}" agreement)
    string(JSON float_bytes GET "${report}" float file_bytes)
    string(JSON int8_bytes GET "${report}" int8 file_bytes)
    string(JSON int8_rate GET "${report}" int8 images_per_second)
    string(JSON identical GET "${report}" round_trip_identical)
    string(JSON stages LENGTH "${report}" stages)
    string(JSON first_stage GET "${report}" stages 0 stage)
    math(EXPR third "${float_bytes} / 3")
    if(NOT images EQUAL 500 OR NOT float_accuracy GREATER 0.9 OR NOT agreement GREATER_EQUAL 0.97
       OR NOT int8_bytes LESS third OR NOT int8_rate GREATER 0 OR NOT identical OR NOT stages EQUAL 4
       OR NOT first_stage STREQUAL "Conv<6, 5> + ReLU + MaxPool<2>")
      message(FATAL_ERROR "implausible results.json: ${images} images, accuracy ${float_accuracy} / ${int8_accuracy}, "
                          "agreement ${agreement}, ${float_bytes} / ${int8_bytes} bytes, ${int8_rate} images/s, "
                          "round trip ${identical}, ${stages} stages, first ${first_stage}")
    endif()
    # |int8 - float| <= 0.02, with CMake's integer arithmetic on hundredths of a percent.
    foreach(side IN ITEMS float int8)
      if(${side}_accuracy MATCHES "^1")
        set(${side}_hundredths 10000)
      else()
        string(REGEX REPLACE "^0\\.([0-9][0-9][0-9][0-9]).*" "\\1" ${side}_hundredths "${${side}_accuracy}0000")
      endif()
    endforeach()
    math(EXPR change "${int8_hundredths} - ${float_hundredths}")
    if(change GREATER 200 OR change LESS -200)
      message(FATAL_ERROR "int8 accuracy ${int8_accuracy} is more than 2 points from float ${float_accuracy}")
    endif()
    string(FIND "${out}" "int8 - float" table)
    if(table EQUAL -1)
      message(FATAL_ERROR "quantize printed no table:\n${out}")
    endif()
    return()
  endif()

  # CHECK "bad": exit status 1 and one line "quantize: <file>: ..." for a missing file and a file
  # that is no model.
  file(MAKE_DIRECTORY ${WORK})
  file(WRITE ${WORK}/text.safetensors "this is not a model file\n")
  foreach(model IN ITEMS ${WORK}/missing.safetensors ${WORK}/text.safetensors)
    execute_process(COMMAND ${PROGRAM} --model ${model} --output ${WORK}/report RESULT_VARIABLE code
                    OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(NOT code EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^quantize: ${model}")
      message(FATAL_ERROR "${model}: expected exit status 1 and one line \"quantize: ${model}...\", got status "
                          "${code} and:\n${err}")
    endif()
    if(EXISTS ${WORK}/report/results.json OR EXISTS ${WORK}/report/model_int8.safetensors)
      message(FATAL_ERROR "${model}: results were written")
    endif()
  endforeach()
  return()
endif()

set(quantize_check -DPROGRAM=$<TARGET_FILE:quantize> -DRUN=${lenet_run} -DSOURCE_DIR=${PROJECT_SOURCE_DIR})
add_test(NAME programs.quantize_report
         COMMAND ${CMAKE_COMMAND} ${quantize_check} -DCHECK=report -DWORK=${CMAKE_CURRENT_BINARY_DIR}/quantize_report
                 -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.quantize_bad_model
         COMMAND ${CMAKE_COMMAND} ${quantize_check} -DCHECK=bad -DWORK=${CMAKE_CURRENT_BINARY_DIR}/quantize_bad
                 -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.quantize_report PROPERTIES FIXTURES_REQUIRED lenet_model TIMEOUT 300)
add_test(NAME programs.quantize_help COMMAND quantize --help)
set_tests_properties(programs.quantize_help PROPERTIES PASS_REGULAR_EXPRESSION "--calibration-images")
