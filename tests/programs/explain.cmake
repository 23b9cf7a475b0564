# explain, run as a user runs it on the one-epoch LeNet-5 of the lenet_model fixture, in a small
# configuration (one misclassified image besides the ten digits, 32 path steps, 4 SmoothGrad
# copies, occlusion at stride 3): it exits 0, prints its table, and writes six PNG pictures and
# explanations.json, whose integrated gradients are complete to within 15% of S(x) - S(x') for
# every image (about 3% at worst is measured; a wrong weight or path point is off by far more)
# and whose largest occlusion drop is a probability's, in (0, 1]. Run again with two
# threads, it draws the same pictures bit for bit. A missing model file (whose message points to
# scripts/train_lenet.sh), a file that is no model and a test image that does not exist each give
# one line on stderr and exit status 1.
# Included by tests/programs/CMakeLists.txt, this file adds the tests; run with -P it checks them.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  set(pictures saliency integrated_gradients occlusion overview filters feature_maps)
  if(CHECK STREQUAL "report")
    file(REMOVE_RECURSE ${WORK})
    set(small --misclassified 1 --ig-steps 32 --smoothgrad 4 --occlusion-stride 3 --feature-images 2)
    execute_process(COMMAND ${PROGRAM} --model ${RUN}/model.safetensors ${small} --output ${WORK}/one
                    WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "explain failed (${code}):\n${out}\n${err}")
    endif()
    foreach(picture IN LISTS pictures)
      file(READ ${WORK}/one/${picture}.png signature LIMIT 8 HEX)
      if(NOT signature STREQUAL "89504e470d0a1a0a")
        message(FATAL_ERROR "${picture}.png does not start with the PNG signature (${signature})")
      endif()
    endforeach()
    file(READ ${WORK}/one/explanations.json report)
    string(JSON count LENGTH "${report}" images)
    if(NOT count EQUAL 11)
      message(FATAL_ERROR "explanations.json: ${count} images, expected 11 (ten digits, one misclassified)")
    endif()
    math(EXPR last "${count} - 1")
    foreach(image RANGE ${last})
      string(JSON index GET "${report}" images ${image} index)
      string(JSON label GET "${report}" images ${image} label)
      string(JSON prediction GET "${report}" images ${image} prediction)
      string(JSON explained GET "${report}" images ${image} explained_class)
      string(JSON probability GET "${report}" images ${image} probability)
      string(JSON score GET "${report}" images ${image} integrated_gradients score)
      string(JSON baseline GET "${report}" images ${image} integrated_gradients baseline_score)
      string(JSON gap GET "${report}" images ${image} integrated_gradients completeness_gap)
      string(JSON relative GET "${report}" images ${image} integrated_gradients relative_gap)
      string(JSON drop GET "${report}" images ${image} occlusion max_drop)
      string(JSON top LENGTH "${report}" images ${image} integrated_gradients top_pixels)
      if(NOT relative LESS 0.15 OR score STREQUAL baseline)
        message(FATAL_ERROR "image ${index}: completeness gap ${gap}, ${relative} of S(x) - S(x') = ${score} - "
                            "${baseline}, not within 15%")
      endif()
      if(NOT explained EQUAL prediction OR NOT drop GREATER 0 OR drop GREATER 1 OR NOT top EQUAL 5)
        message(FATAL_ERROR "image ${index}: explained class ${explained} (prediction ${prediction}), occlusion drop "
                            "${drop} (probability ${probability}), ${top} top pixels")
      endif()
      if(image EQUAL 10 AND label EQUAL prediction)
        message(FATAL_ERROR "image ${index}, the last, should be misclassified: label ${label}, prediction ${prediction}")
      endif()
    endforeach()
    foreach(text IN ITEMS "completeness" "gap/dS")
      string(FIND "${out}" "${text}" found)
      if(found EQUAL -1)
        message(FATAL_ERROR "explain printed no table (\"${text}\"):\n${out}")
      endif()
    endforeach()

    execute_process(COMMAND ${PROGRAM} --model ${RUN}/model.safetensors ${small} --threads 2 --output ${WORK}/two
                    WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "explain --threads 2 failed (${code}):\n${out}\n${err}")
    endif()
    foreach(picture IN LISTS pictures)
      file(SHA256 ${WORK}/one/${picture}.png one)
      file(SHA256 ${WORK}/two/${picture}.png two)
      if(NOT one STREQUAL two)
        message(FATAL_ERROR "${picture}.png differs between one and two threads")
      endif()
    endforeach()
    return()
  endif()

  # CHECK "bad": exit status 1 and one line "explain: ..." holding the expected text.
  file(MAKE_DIRECTORY ${WORK})
  file(WRITE ${WORK}/text.safetensors "this is not a model file\n")
  foreach(case IN ITEMS "${WORK}/missing.safetensors|0|scripts/train_lenet.sh"
                        "${WORK}/text.safetensors|0|${WORK}/text.safetensors"
                        "${RUN}/model.safetensors|10000|--images: 10000 is not a test image")
    string(REPLACE "|" ";" fields "${case}")
    list(GET fields 0 model)
    list(GET fields 1 image)
    list(GET fields 2 expected)
    execute_process(COMMAND ${PROGRAM} --model ${model} --images ${image} --output ${WORK}/report
                    WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    string(FIND "${err}" "${expected}" found)
    if(NOT code EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^explain: " OR found EQUAL -1)
      message(FATAL_ERROR "${model}, image ${image}: expected exit status 1 and one line \"explain: ...\" holding "
                          "\"${expected}\", got status ${code} and:\n${err}")
    endif()
    if(EXISTS ${WORK}/report/explanations.json)
      message(FATAL_ERROR "${model}, image ${image}: a report was written")
    endif()
  endforeach()
  return()
endif()

set(explain_check -DPROGRAM=$<TARGET_FILE:explain> -DRUN=${lenet_run} -DSOURCE_DIR=${PROJECT_SOURCE_DIR})
add_test(NAME programs.explain_report
         COMMAND ${CMAKE_COMMAND} ${explain_check} -DCHECK=report -DWORK=${CMAKE_CURRENT_BINARY_DIR}/explain_report
                 -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.explain_bad_input
         COMMAND ${CMAKE_COMMAND} ${explain_check} -DCHECK=bad -DWORK=${CMAKE_CURRENT_BINARY_DIR}/explain_bad
                 -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.explain_report programs.explain_bad_input PROPERTIES FIXTURES_REQUIRED lenet_model
                                                                                   TIMEOUT 300)
add_test(NAME programs.explain_help COMMAND explain --help)
set_tests_properties(programs.explain_help PROPERTIES PASS_REGULAR_EXPRESSION "--ig-steps")
