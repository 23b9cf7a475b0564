# robustness_report: the report of the fixture model on 200 test images with 10-step PGD (with
# fewer, steps of 2.5 eps / steps overshoot and PGD bites less than FGSM): every attack and
# corruption in report.json with plausible accuracies, real PNGs, report.txt what it printed; and
# for a bad model path or corruption name, one line on stderr and exit status 1.
# This file is both included by CMakeLists.txt (to add the tests) and run by them with cmake -P
# (to check the results), so the checks sit beside the tests that use them.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  macro(run_report)
    execute_process(COMMAND ${PROGRAM} ${ARGN} WORKING_DIRECTORY ${SOURCE_DIR}
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  endmacro()

  if(CHECK STREQUAL "report")
    file(REMOVE_RECURSE ${WORK})
    run_report(--model ${RUN}/model.safetensors --output ${WORK} --images 200 --steps 10 --seed 3)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "robustness_report failed (${code}):\n${err}")
    endif()
    foreach(name IN ITEMS report.txt report.json attack_curves.png corruptions.png adversarial_examples.png
                          corruption_accuracy.png)
      if(NOT EXISTS ${WORK}/${name})
        message(FATAL_ERROR "robustness_report did not write ${WORK}/${name}")
      endif()
      if(name MATCHES "png$")
        file(READ ${WORK}/${name} signature LIMIT 8 HEX)
        if(NOT signature STREQUAL "89504e470d0a1a0a")
          message(FATAL_ERROR "${name} does not start with the PNG signature (${signature})")
        endif()
      endif()
    endforeach()

    file(READ ${WORK}/report.json report)
    string(JSON images GET "${report}" images)
    string(JSON clean GET "${report}" clean accuracy)
    if(NOT images EQUAL 200 OR clean LESS 0.9 OR clean GREATER 1)
      message(FATAL_ERROR "expected 200 images and a clean accuracy above 0.9, got ${images} and ${clean}")
    endif()

    # Every corruption, in the header's order, with an accuracy in [0, 1].
    set(corruptions shot_noise impulse_noise gaussian_blur motion_blur glass_blur rotation shear scale translation
                    brightness contrast fog stripe dotted_line zigzag canny_edges occlusion)
    string(JSON count LENGTH "${report}" corruptions)
    list(LENGTH corruptions expected_count)
    if(NOT count EQUAL expected_count)
      message(FATAL_ERROR "expected ${expected_count} corruptions in report.json, found ${count}")
    endif()
    set(index 0)
    foreach(expected IN LISTS corruptions)
      string(JSON name GET "${report}" corruptions ${index} name)
      string(JSON accuracy GET "${report}" corruptions ${index} accuracy)
      if(NOT name STREQUAL expected OR accuracy LESS 0 OR accuracy GREATER 1)
        message(FATAL_ERROR "corruption ${index}: expected ${expected} with an accuracy in [0, 1], got ${name}, ${accuracy}")
      endif()
      math(EXPR index "${index} + 1")
    endforeach()

    # Every attack at every budget of the defaults: accuracies in [0, 1], epsilon 0 the clean
    # accuracy, never above it, and PGD at the largest budget far below it (the net is not robust).
    set(attacks "fgsm_linf|7|0.3" "pgd_linf|7|0.3" "pgd_l2|7|3")
    string(JSON count LENGTH "${report}" attacks)
    if(NOT count EQUAL 3)
      message(FATAL_ERROR "expected 3 attacks in report.json, found ${count}")
    endif()
    set(index 0)
    foreach(attack IN LISTS attacks)
      string(REPLACE "|" ";" fields "${attack}")
      list(GET fields 0 expected)
      list(GET fields 1 expected_points)
      list(GET fields 2 largest)
      string(JSON name GET "${report}" attacks ${index} name)
      string(JSON points LENGTH "${report}" attacks ${index} points)
      if(NOT name STREQUAL expected OR NOT points EQUAL expected_points)
        message(FATAL_ERROR "attack ${index}: expected ${expected} with ${expected_points} budgets, got ${name}, ${points}")
      endif()
      math(EXPR last "${points} - 1")
      foreach(point RANGE ${last})
        string(JSON accuracy GET "${report}" attacks ${index} points ${point} accuracy)
        string(JSON epsilon GET "${report}" attacks ${index} points ${point} epsilon)
        if(accuracy LESS 0 OR accuracy GREATER clean OR (epsilon EQUAL 0 AND NOT accuracy EQUAL clean))
          message(FATAL_ERROR "${name} at epsilon ${epsilon}: accuracy ${accuracy} (clean ${clean})")
        endif()
      endforeach()
      if(NOT epsilon EQUAL largest)
        message(FATAL_ERROR "${name}: the largest budget is ${epsilon}, not ${largest}")
      endif()
      if(name MATCHES "^pgd")
        string(JSON strong GET "${report}" attacks ${index} points ${last} accuracy)
        if(strong GREATER 0.5)
          message(FATAL_ERROR "${name} at epsilon ${largest} leaves ${strong} accuracy: the attack does not bite")
        endif()
      endif()
      message(STATUS "${name}: accuracy ${accuracy} at epsilon ${epsilon}")
      math(EXPR index "${index} + 1")
    endforeach()

    string(JSON examples LENGTH "${report}" adversarial_examples images)
    if(NOT examples EQUAL 8)
      message(FATAL_ERROR "expected 8 adversarial examples, found ${examples}")
    endif()
    file(READ ${WORK}/report.txt text)
    string(FIND "${out}" "${text}" position)
    if(NOT position EQUAL 0 OR NOT text MATCHES "canny_edges" OR NOT text MATCHES "L2 eps")
      message(FATAL_ERROR "report.txt is not what robustness_report printed, or lacks its tables:\n${text}")
    endif()
    return()
  endif()

  # CHECK "bad": each case must give exit status 1, a single "robustness_report: ..." line naming
  # the problem, and no report.
  file(REMOVE_RECURSE ${WORK})
  # "<what>|<arguments, comma-separated>|<text the line must hold>"
  set(cases
      "missing model|--model,${WORK}/missing.safetensors|missing.safetensors"
      "text model|--model,${RUN}/log.csv|log.csv"
      "unknown corruption|--model,${RUN}/model.safetensors,--corruptions,snow|the corruptions are shot_noise, ")
  foreach(case IN LISTS cases)
    string(REPLACE "|" ";" fields "${case}")
    list(GET fields 0 what)
    list(GET fields 1 arguments)
    list(GET fields 2 expected)
    string(REPLACE "," ";" arguments "${arguments}")
    run_report(${arguments} --output ${WORK}/report --images 10)
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    string(FIND "${err}" "${expected}" found)
    if(NOT code EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^robustness_report: " OR found EQUAL -1)
      message(FATAL_ERROR "${what}: expected exit status 1 and one line \"robustness_report: ...${expected}...\", "
                          "got status ${code} and:\n${err}")
    endif()
    if(EXISTS ${WORK}/report/report.json)
      message(FATAL_ERROR "${what}: a report was written")
    endif()
    message(STATUS "${what}: ${err}")
  endforeach()
  return()
endif()

set(robustness_check -DPROGRAM=$<TARGET_FILE:robustness_report> -DRUN=${lenet_run} -DSOURCE_DIR=${PROJECT_SOURCE_DIR})
add_test(NAME programs.robustness_report
         COMMAND ${CMAKE_COMMAND} ${robustness_check} -DCHECK=report
                 -DWORK=${CMAKE_CURRENT_BINARY_DIR}/robustness_report -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.robustness_report_bad_input
         COMMAND ${CMAKE_COMMAND} ${robustness_check} -DCHECK=bad
                 -DWORK=${CMAKE_CURRENT_BINARY_DIR}/robustness_report_bad -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.robustness_report programs.robustness_report_bad_input
                     PROPERTIES FIXTURES_REQUIRED lenet_model TIMEOUT 300)
add_test(NAME programs.robustness_report_help COMMAND robustness_report --help)
set_tests_properties(programs.robustness_report_help PROPERTIES PASS_REGULAR_EXPRESSION "--linf-eps")
