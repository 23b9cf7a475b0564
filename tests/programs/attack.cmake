# attack, run as a user runs it on the one-epoch LeNet-5 of the lenet_model fixture: PGD (also
# targeted), FGSM and DeepFool on 100 test images each write attack.json, whose accuracy under
# attack is at most the clean one, and examples.png; a missing model, a negative budget and an
# unknown method each get a non-zero exit status and one line on stderr.
#
# This file has two modes. Included by tests/programs/CMakeLists.txt, it adds the tests. Run as
#   cmake -D CHECK=<check> -D PROGRAM=<program> -D ARGS=<arg|arg|...> [-D EXPECT=<text|text>]
#         [-D WORK=<folder>] [-D MIN_SUCCESS=<fraction>] -P attack.cmake
# it runs PROGRAM with ARGS ('|' separates them) and checks its outcome:
#   report          exit status 0; in WORK, an attack.json of 100 images with clean accuracy above
#                   0.9, accuracy under attack at most the clean one, a success rate of at least
#                   MIN_SUCCESS, and examples.png; DeepFool's median distance when it ran
#   one_line_error  a non-zero exit status (not a crash) and one line on stderr holding each EXPECT
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  include(${CMAKE_CURRENT_LIST_DIR}/support/program_checks.cmake)
  if(CHECK STREQUAL "report")
    file(REMOVE_RECURSE ${WORK})
    run_program_to_check(--images 100 --output ${WORK})
    if(NOT status EQUAL 0)
      message(FATAL_ERROR "expected exit status 0: ${ran}")
    endif()
    file(READ ${WORK}/attack.json report)
    string(JSON images GET "${report}" data images)
    string(JSON clean GET "${report}" clean_accuracy)
    string(JSON robust GET "${report}" robust_accuracy)
    string(JSON success GET "${report}" success_rate)
    string(JSON classes LENGTH "${report}" per_class)
    if(NOT images EQUAL 100 OR NOT clean GREATER 0.9 OR robust GREATER clean OR success LESS MIN_SUCCESS
       OR NOT classes EQUAL 10)
      message(FATAL_ERROR "implausible attack.json: ${images} images, clean accuracy ${clean}, under attack "
                          "${robust}, success rate ${success} (at least ${MIN_SUCCESS}), ${classes} classes: ${ran}")
    endif()
    string(JSON method GET "${report}" attack method)
    if(method STREQUAL "deepfool")
      string(JSON median GET "${report}" deepfool median_l2)
      if(NOT median GREATER 0.1 OR NOT median LESS 10)
        message(FATAL_ERROR "DeepFool's median L2 distance ${median} is implausible for MNIST: ${ran}")
      endif()
    endif()
    file(READ ${WORK}/examples.png signature LIMIT 8 HEX)
    if(NOT signature STREQUAL "89504e470d0a1a0a")
      message(FATAL_ERROR "examples.png does not start with the PNG signature (${signature}): ${ran}")
    endif()
    if(NOT out MATCHES "accuracy under attack")
      message(FATAL_ERROR "the figures are not on stdout: ${ran}")
    endif()
    message(STATUS "${method}: clean ${clean}, under attack ${robust}, success rate ${success}")
  elseif(CHECK STREQUAL "one_line_error")
    run_program_to_check()
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(status EQUAL 0 OR NOT lines EQUAL 1 OR NOT err MATCHES "^attack: ")
      message(FATAL_ERROR "expected a non-zero exit status and one line \"attack: ...\" on stderr: ${ran}")
    endif()
    foreach(text IN LISTS expected)
      string(FIND "${err}" "${text}" found)
      if(found EQUAL -1)
        message(FATAL_ERROR "expected \"${text}\" on stderr: ${ran}")
      endif()
    endforeach()
  else()
    message(FATAL_ERROR "unknown CHECK '${CHECK}'")
  endif()
  return()
endif()

set(model ${lenet_run}/model.safetensors)
set(attack_output ${CMAKE_CURRENT_BINARY_DIR}/attack)

add_test(NAME programs.attack_help COMMAND attack --help)
set_tests_properties(programs.attack_help PROPERTIES PASS_REGULAR_EXPRESSION "--no-random-start")

# Each method on 100 images, with few steps. Even so, a one-epoch LeNet-5 loses accuracy to PGD
# at eps 0.1 (about a third of the images fall at 5 steps), to FGSM at eps 0.2 (three quarters)
# and to PGD towards class 3 (over half reach it), and DeepFool flips every image in about 9
# iterations; the bounds leave room for another compiler's model.
foreach(case IN ITEMS "pgd|--steps|5|0.1" "pgd_targeted|--target|3|--eps|0.2|--steps|10|0.4"
                      "fgsm|--method|fgsm|--eps|0.2|0.5" "deepfool|--method|deepfool|--max-iterations|20|--candidates|4|0.9")
  string(REPLACE "|" ";" fields "${case}")
  list(POP_FRONT fields name)
  list(POP_BACK fields min_success)
  string(REPLACE ";" "|" arguments "${fields}")
  add_test(NAME programs.attack_${name}
           COMMAND ${CMAKE_COMMAND} -D CHECK=report -D PROGRAM=$<TARGET_FILE:attack>
                   "-D ARGS=--model|${model}|${arguments}" -D WORK=${attack_output}/${name}
                   -D MIN_SUCCESS=${min_success} -P ${CMAKE_CURRENT_LIST_FILE})
  set_tests_properties(programs.attack_${name} PROPERTIES FIXTURES_REQUIRED lenet_model WORKING_DIRECTORY
                                                          ${PROJECT_SOURCE_DIR})
endforeach()

# Bad input: each a single line naming the problem. A bad budget or method is refused before
# any model is read, so these need no fixture.
foreach(case IN ITEMS "missing_model|--model|${attack_output}/missing.safetensors|missing.safetensors"
                      "negative_eps|--eps|-0.1|--eps must be a finite number >= 0"
                      "unknown_method|--method|cw|--method: cw not in")
  string(REPLACE "|" ";" fields "${case}")
  list(POP_FRONT fields name)
  list(POP_BACK fields expected)
  string(REPLACE ";" "|" arguments "${fields}")
  add_test(NAME programs.attack_refuses_${name}
           COMMAND ${CMAKE_COMMAND} -D CHECK=one_line_error -D PROGRAM=$<TARGET_FILE:attack>
                   "-D ARGS=${arguments}|--output|${attack_output}/refused" "-D EXPECT=${expected}"
                   -P ${CMAKE_CURRENT_LIST_FILE})
endforeach()
