# train_ensemble, run as a user runs it, in a tiny configuration (one epoch on 1,000 images per
# member, 500 test images): it exits 0 and writes results.json with five members whose test
# accuracies beat chance, an accuracy for each ensemble size whose last is the ensemble's, and
# ensemble.json with a model file per member; a second run in the same folder reuses the saved
# members (and says so) and, on the first two, gives the accuracy the first run gave for two. A
# member file that is no model, or was saved by another network (the lenet_model fixture's
# LeNet-5), gives one line on stderr and exit status 1.
# Included by tests/programs/CMakeLists.txt, this file adds the tests; run with -P it checks them.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  file(REMOVE_RECURSE ${WORK})
  set(tiny --train-limit 1000 --validation 200 --epochs 1 --batch-size 32 --schedule constant --learning-rate 0.05
           --test-limit 500 --threads 2)
  if(CHECK STREQUAL "run")
    execute_process(COMMAND ${PROGRAM} ${tiny} --output ${WORK} WORKING_DIRECTORY ${SOURCE_DIR}
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "train_ensemble failed (${code}):\n${out}\n${err}")
    endif()
    file(READ ${WORK}/results.json results)
    string(JSON accuracy GET "${results}" test_accuracy)
    string(JSON images GET "${results}" test_images)
    string(JSON members LENGTH "${results}" members)
    string(JSON sizes LENGTH "${results}" accuracy_by_ensemble_size)
    string(JSON last GET "${results}" accuracy_by_ensemble_size 4)
    string(JSON pair GET "${results}" accuracy_by_ensemble_size 1)
    if(NOT images EQUAL 500 OR NOT members EQUAL 5 OR NOT sizes EQUAL 5 OR NOT last EQUAL accuracy
       OR NOT accuracy GREATER 0.5 OR accuracy GREATER 1)
      message(FATAL_ERROR "implausible results.json: ${images} images, ${members} members, ${sizes} sizes, "
                          "accuracy ${accuracy}, of five members ${last}")
    endif()
    file(READ ${WORK}/ensemble.json manifest)
    string(JSON listed LENGTH "${manifest}" members)
    if(NOT listed EQUAL 5)
      message(FATAL_ERROR "ensemble.json lists ${listed} members, not 5")
    endif()
    foreach(row RANGE 4)
      string(JSON name GET "${results}" members ${row} name)
      string(JSON member_accuracy GET "${results}" members ${row} test_accuracy)
      string(JSON reused GET "${results}" members ${row} reused)
      if(NOT EXISTS ${WORK}/${name}/model.safetensors OR NOT EXISTS ${WORK}/${name}/log.csv
         OR NOT member_accuracy GREATER 0.3 OR reused)
        message(FATAL_ERROR "member ${name}: model file, log, accuracy ${member_accuracy} > 0.3, reused ${reused}")
      endif()
    endforeach()

    execute_process(COMMAND ${PROGRAM} ${tiny} --members 2 --output ${WORK} WORKING_DIRECTORY ${SOURCE_DIR}
                    RESULT_VARIABLE code OUTPUT_VARIABLE again ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "train_ensemble --members 2 failed (${code}):\n${again}\n${err}")
    endif()
    string(REGEX MATCHALL "reused [^\n]*model.safetensors" reuses "${again}")
    list(LENGTH reuses reused_count)
    file(READ ${WORK}/results.json results)
    string(JSON second GET "${results}" test_accuracy)
    if(NOT reused_count EQUAL 2 OR NOT second EQUAL pair)
      message(FATAL_ERROR "the second run reused ${reused_count} members (expected 2) and gave ${second} for the "
                          "first two (the first run: ${pair}):\n${again}")
    endif()
    return()
  endif()

  # CHECK "bad": a member file that is text, then one that holds LeNet-5.
  file(MAKE_DIRECTORY ${WORK}/best_1)
  foreach(kind IN ITEMS text lenet)
    if(kind STREQUAL "text")
      file(WRITE ${WORK}/best_1/model.safetensors "this is not a model file\n")
    else()
      file(COPY_FILE ${RUN}/model.safetensors ${WORK}/best_1/model.safetensors)
    endif()
    execute_process(COMMAND ${PROGRAM} ${tiny} --output ${WORK} WORKING_DIRECTORY ${SOURCE_DIR}
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    string(REGEX MATCHALL "\n" newlines "${err}")
    list(LENGTH newlines lines)
    if(NOT code EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^train_ensemble: .*best_1/model.safetensors")
      message(FATAL_ERROR "${kind} member file: expected exit status 1 and one line \"train_ensemble: ...\", got "
                          "status ${code} and:\n${err}")
    endif()
    if(kind STREQUAL "lenet" AND NOT err MATCHES "saved by `Input<1, 28, 28> [|] Conv<6, 5>")
      message(FATAL_ERROR "the error does not name the file's network:\n${err}")
    endif()
    if(EXISTS ${WORK}/results.json)
      message(FATAL_ERROR "${kind} member file: results were written")
    endif()
  endforeach()
  return()
endif()

set(train_ensemble_check -DPROGRAM=$<TARGET_FILE:train_ensemble> -DRUN=${lenet_run} -DSOURCE_DIR=${PROJECT_SOURCE_DIR})
add_test(NAME programs.train_ensemble_run
         COMMAND ${CMAKE_COMMAND} ${train_ensemble_check} -DCHECK=run
                 -DWORK=${CMAKE_CURRENT_BINARY_DIR}/train_ensemble_run -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.train_ensemble_bad_member
         COMMAND ${CMAKE_COMMAND} ${train_ensemble_check} -DCHECK=bad
                 -DWORK=${CMAKE_CURRENT_BINARY_DIR}/train_ensemble_bad -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.train_ensemble_run PROPERTIES TIMEOUT 300)
set_tests_properties(programs.train_ensemble_bad_member PROPERTIES FIXTURES_REQUIRED lenet_model TIMEOUT 60)
add_test(NAME programs.train_ensemble_help COMMAND train_ensemble --help)
set_tests_properties(programs.train_ensemble_help PROPERTIES PASS_REGULAR_EXPRESSION "--retrain")
