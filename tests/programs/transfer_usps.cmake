# transfer_usps, run as a user runs it: from the one-epoch LeNet-5 of the lenet_model fixture, one
# epoch with the convolutions frozen, one of all layers, and two from scratch, on 1000 USPS
# training images. It exits 0 and writes results.json (five runs, every accuracy plausible, the
# frozen convolutions bit-identical), curves.png, the per-run logs and the fine-tuned model; bad
# input (a missing, foreign or unknown model, a corrupt USPS file) gives one line on stderr and
# exit status 1, and no results.
# Included by tests/programs/CMakeLists.txt, this file adds the tests; run with -P it checks them.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  file(REMOVE_RECURSE ${WORK})
  if(CHECK STREQUAL "report")
    execute_process(COMMAND ${PROGRAM} --model ${RUN}/model.safetensors --frozen-epochs 1 --full-epochs 1
                            --train-images 1000 --validation 300 --output ${WORK} WORKING_DIRECTORY ${SOURCE_DIR}
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "transfer_usps failed (${code}):\n${out}\n${err}")
    endif()
    foreach(name IN ITEMS results.json curves.png model.safetensors log_frozen.csv log_full.csv log_scratch.csv)
      if(NOT EXISTS ${WORK}/${name})
        message(FATAL_ERROR "transfer_usps did not write ${WORK}/${name}")
      endif()
    endforeach()
    file(READ ${WORK}/curves.png signature LIMIT 8 HEX)
    if(NOT signature STREQUAL "89504e470d0a1a0a")
      message(FATAL_ERROR "curves.png does not start with the PNG signature (${signature})")
    endif()
    file(READ ${WORK}/results.json results)
    string(JSON network GET "${results}" network)
    string(JSON train GET "${results}" usps train)
    string(JSON validation GET "${results}" usps validation)
    string(JSON test GET "${results}" usps test)
    string(JSON identical GET "${results}" frozen bit_identical)
    string(JSON fixed GET "${results}" frozen parameters)
    string(JSON trainable_changed GET "${results}" frozen trainable_parameters_changed)
    string(JSON runs LENGTH "${results}" runs)
    # LeNet-5's convolutions: 6 * (25 + 1) + 16 * (6 * 25 + 1) parameters.
    if(NOT network MATCHES "^Input<1, 28, 28> \\| Conv<6, 5>" OR NOT train EQUAL 1000 OR NOT validation EQUAL 300
       OR NOT test EQUAL 2007 OR NOT identical STREQUAL "ON" OR NOT fixed EQUAL 2572
       OR NOT trainable_changed GREATER 0 OR NOT runs EQUAL 5)
      message(FATAL_ERROR "implausible results.json: network ${network}, USPS ${train}/${validation}/${test}, "
                          "frozen bit-identical ${identical} (${fixed} parameters), ${trainable_changed} trainable "
                          "parameters changed, ${runs} runs")
    endif()
    # The one-epoch LeNet-5 reads USPS framed as MNIST far better than chance, and better than
    # USPS stretched to 28x28; fine-tuning keeps it there. Two short epochs from scratch learn
    # little: its figures need only be accuracies.
    string(JSON stretched GET "${results}" runs 0 usps_test_accuracy)
    string(JSON as_is GET "${results}" as_is_accuracy)
    if(NOT as_is GREATER 0.85 OR NOT as_is GREATER stretched)
      message(FATAL_ERROR "implausible as-is accuracies: framed ${as_is}, stretched ${stretched}")
    endif()
    math(EXPR last "${runs} - 1")
    foreach(run RANGE ${last})
      string(JSON name GET "${results}" runs ${run} name)
      string(JSON usps GET "${results}" runs ${run} usps_test_accuracy)
      string(JSON mnist GET "${results}" runs ${run} mnist_test_accuracy)
      string(JSON epochs GET "${results}" runs ${run} epochs)
      string(JSON curve LENGTH "${results}" runs ${run} validation_accuracy)
      set(floor 0.85)
      if(name STREQUAL "scratch")
        set(floor 0)
      endif()
      if(NOT usps GREATER floor OR usps GREATER 1 OR mnist LESS 0 OR mnist GREATER 1 OR NOT curve EQUAL epochs)
        message(FATAL_ERROR "run ${name}: USPS ${usps}, MNIST ${mnist}, ${curve} validation figures for ${epochs} "
                            "epochs")
      endif()
      if(name STREQUAL "scratch" AND NOT epochs EQUAL 2)
        message(FATAL_ERROR "from scratch ran ${epochs} epochs, not the fine-tuning's 1 + 1")
      endif()
    endforeach()
    if(NOT out MATCHES "from scratch on USPS" OR NOT out MATCHES "bit-identical")
      message(FATAL_ERROR "transfer_usps printed no table:\n${out}")
    endif()
    return()
  endif()

  # CHECK "bad": exit status 1, one line "transfer_usps: ..." holding the expected text, no results.
  file(MAKE_DIRECTORY ${WORK}/data/usps)
  file(WRITE ${WORK}/text.safetensors "this is not a model file\n")
  file(WRITE ${WORK}/data/usps/usps.h5 "this is not an HDF5 file\n")
  set(cases
      "missing|${WORK}/missing.safetensors|${WORK}/missing.safetensors: no such model file.*train_mnist_best"
      "text|${WORK}/text.safetensors|${WORK}/text.safetensors"
      "other architecture|${SOURCE_DIR}/tests/fuzz/corpus/safetensors/model.safetensors|which this program does not know"
      "corrupt data|${RUN}/model.safetensors|usps.h5: cannot open as an HDF5 file")
  foreach(case IN LISTS cases)
    string(REPLACE "|" ";" fields "${case}")
    list(GET fields 0 what)
    list(GET fields 1 model)
    list(GET fields 2 expected)
    execute_process(COMMAND ${PROGRAM} --model ${model} --data ${WORK}/data --output ${WORK}/out
                    WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(NOT code EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^transfer_usps: " OR NOT err MATCHES "${expected}")
      message(FATAL_ERROR "${what}: expected exit status 1 and one line \"transfer_usps: ...${expected}...\", got "
                          "status ${code} and:\n${err}")
    endif()
    if(EXISTS ${WORK}/out/results.json)
      message(FATAL_ERROR "${what}: results were written")
    endif()
  endforeach()
  return()
endif()

set(transfer_usps_check -DPROGRAM=$<TARGET_FILE:transfer_usps> -DRUN=${lenet_run} -DSOURCE_DIR=${PROJECT_SOURCE_DIR})
add_test(NAME programs.transfer_usps_report
         COMMAND ${CMAKE_COMMAND} ${transfer_usps_check} -DCHECK=report
                 -DWORK=${CMAKE_CURRENT_BINARY_DIR}/transfer_usps_report -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.transfer_usps_bad_input
         COMMAND ${CMAKE_COMMAND} ${transfer_usps_check} -DCHECK=bad
                 -DWORK=${CMAKE_CURRENT_BINARY_DIR}/transfer_usps_bad -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.transfer_usps_report programs.transfer_usps_bad_input
                     PROPERTIES FIXTURES_REQUIRED lenet_model TIMEOUT 300)
add_test(NAME programs.transfer_usps_help COMMAND transfer_usps --help)
set_tests_properties(programs.transfer_usps_help PROPERTIES PASS_REGULAR_EXPRESSION "--frozen-epochs")
