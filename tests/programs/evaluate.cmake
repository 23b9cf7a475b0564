# evaluate: the report of the fixture model (every file, a readable report.json, real PNGs), and
# for every file that is not a model it can read, one line on stderr and exit status 1.
# This file is both included by CMakeLists.txt (to add the tests) and run by them with
# cmake -P (to check the results), so the checks sit beside the tests that use them.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  # Runs PROGRAM with the arguments in ARGS (a ;-list) from SOURCE_DIR; sets code, out and err.
  macro(run_evaluate)
    execute_process(COMMAND ${PROGRAM} ${ARGN} WORKING_DIRECTORY ${SOURCE_DIR}
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  endmacro()

  if(CHECK STREQUAL "report")
    file(REMOVE_RECURSE ${WORK})
    run_evaluate(--model ${RUN}/model.safetensors --output ${WORK} --worst 12 --top-k 2,5)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "evaluate failed (${code}):\n${err}")
    endif()
    foreach(name IN ITEMS report.txt report.json confusion_matrix.png worst_errors.png roc_curves.png
                          training_curves.png)
      if(NOT EXISTS ${WORK}/${name})
        message(FATAL_ERROR "evaluate did not write ${WORK}/${name}")
      endif()
      if(name MATCHES "png$")
        file(READ ${WORK}/${name} signature LIMIT 8 HEX)
        if(NOT signature STREQUAL "89504e470d0a1a0a")
          message(FATAL_ERROR "${name} does not start with the PNG signature (${signature})")
        endif()
      endif()
    endforeach()
    file(READ ${WORK}/report.json report)
    string(JSON accuracy GET "${report}" accuracy)
    string(JSON top5 GET "${report}" top_k_accuracy 5)
    string(JSON classes LENGTH "${report}" per_class)
    string(JSON worst LENGTH "${report}" worst_errors)
    string(JSON bins LENGTH "${report}" calibration reliability)
    string(JSON matrix_rows LENGTH "${report}" confusion_matrix counts)
    string(JSON auc GET "${report}" per_class 3 auc)
    string(JSON epochs LENGTH "${report}" training_epochs)
    if(NOT accuracy GREATER 0.95 OR NOT top5 GREATER_EQUAL accuracy OR NOT classes EQUAL 10 OR NOT bins EQUAL 15
       OR NOT matrix_rows EQUAL 10 OR NOT auc GREATER 0.99 OR NOT epochs EQUAL 1 OR worst GREATER 12)
      message(FATAL_ERROR "implausible report.json: accuracy ${accuracy}, top-5 ${top5}, ${classes} classes, "
                          "${bins} bins, ${matrix_rows} matrix rows, AUC of class 3 ${auc}, ${epochs} epochs, "
                          "${worst} worst errors")
    endif()
    file(READ ${WORK}/report.txt text)
    string(FIND "${out}" "${text}" position)
    if(NOT position EQUAL 0 OR NOT text MATCHES "macro avg" OR NOT text MATCHES "top-5 accuracy")
      message(FATAL_ERROR "report.txt is not what evaluate printed, or lacks its table:\n${text}")
    endif()
    return()
  endif()

  # CHECK "bad": each file below must give exit status 1 and a single "evaluate: ..." line that
  # names the problem, and no report.
  file(REMOVE_RECURSE ${WORK})
  file(MAKE_DIRECTORY ${WORK}/models ${WORK}/log)
  # A download cut short: the first half of the model file.
  file(SIZE ${RUN}/model.safetensors size)
  math(EXPR half "${size} / 2")
  execute_process(COMMAND head -c ${half} ${RUN}/model.safetensors OUTPUT_FILE ${WORK}/models/truncated.safetensors)
  file(WRITE ${WORK}/models/text.safetensors "this is not a model file\n")
  file(WRITE ${WORK}/log/log.csv "epoch,train_loss\n1,0.5\n")
  set(cases
      "truncated|${WORK}/models/truncated.safetensors|past the end"
      "other architecture|${SOURCE_DIR}/tests/fuzz/corpus/safetensors/model.safetensors|which this program does not know"
      "checkpoint|${RUN}/checkpoint.safetensors|not a ctnn model file"
      "text|${WORK}/models/text.safetensors|text.safetensors"
      "missing|${WORK}/models/missing.safetensors|missing.safetensors"
      "bad log|${RUN}/model.safetensors|not a ctnn training log")
  foreach(case IN LISTS cases)
    string(REPLACE "|" ";" fields "${case}")
    list(GET fields 0 what)
    list(GET fields 1 model)
    list(GET fields 2 expected)
    set(arguments --model ${model} --output ${WORK}/report)
    if(what STREQUAL "bad log")
      list(APPEND arguments --log ${WORK}/log/log.csv)
    endif()
    run_evaluate(${arguments})
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(NOT code EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^evaluate: " OR NOT err MATCHES "${expected}")
      message(FATAL_ERROR "${what} model: expected exit status 1 and one line \"evaluate: ...${expected}...\", "
                          "got status ${code} and:\n${err}")
    endif()
    if(EXISTS ${WORK}/report/report.json)
      message(FATAL_ERROR "${what} model: a report was written")
    endif()
    message(STATUS "${what}: ${err}")
  endforeach()

  # A damaged log.csv beside the model costs only the training curves, with a warning.
  file(COPY ${RUN}/model.safetensors DESTINATION ${WORK}/beside)
  file(WRITE ${WORK}/beside/log.csv "epoch,train_loss,train_accuracy,validation_loss,validation_accuracy\n1,x,0,0,0\n")
  run_evaluate(--model ${WORK}/beside/model.safetensors)
  if(NOT code EQUAL 0 OR NOT err MATCHES "^evaluate: warning: no training curves: .*line 2: train_loss is \"x\""
     OR NOT EXISTS ${WORK}/beside/report/report.json OR EXISTS ${WORK}/beside/report/training_curves.png)
    message(FATAL_ERROR "a bad log beside the model: expected a warning and a report without training curves, "
                        "got status ${code} and:\n${err}")
  endif()
  return()
endif()

set(evaluate_check -DPROGRAM=$<TARGET_FILE:evaluate> -DRUN=${lenet_run} -DSOURCE_DIR=${PROJECT_SOURCE_DIR})
add_test(NAME programs.evaluate_report
         COMMAND ${CMAKE_COMMAND} ${evaluate_check} -DCHECK=report -DWORK=${CMAKE_CURRENT_BINARY_DIR}/evaluate_report
                 -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.evaluate_bad_files
         COMMAND ${CMAKE_COMMAND} ${evaluate_check} -DCHECK=bad -DWORK=${CMAKE_CURRENT_BINARY_DIR}/evaluate_bad
                 -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.evaluate_report programs.evaluate_bad_files
                     PROPERTIES FIXTURES_REQUIRED lenet_model TIMEOUT 300)
add_test(NAME programs.evaluate_help COMMAND evaluate --help)
set_tests_properties(programs.evaluate_help PROPERTIES PASS_REGULAR_EXPRESSION "--top-k")
