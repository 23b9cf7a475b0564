# search, run as a user runs it in a tiny configuration (2 random trials and the 2 other networks,
# 1 epoch on 500 images, the retraining on 1000): it exits 0, prints the table, and writes
# trials.json ranked by validation accuracy with every configuration inside the search space and
# each dropout trained by the network compiled with it, trials.csv with a row per trial, best.json
# naming the first-ranked trial with a test accuracy above chance, and search.png. MNIST files
# that are not MNIST give one line on stderr and exit status 1.
# Included by tests/programs/CMakeLists.txt, this file adds the tests; run with -P it checks them.
if(CMAKE_SCRIPT_MODE_FILE)
  cmake_minimum_required(VERSION 3.21)
  file(REMOVE_RECURSE ${WORK})
  if(CHECK STREQUAL "run")
    execute_process(COMMAND ${PROGRAM} --strategy random --trials 2 --epochs 1 --train-limit 500 --validation 500
                            --final-epochs 1 --final-limit 1000 --output ${WORK} WORKING_DIRECTORY ${SOURCE_DIR}
                    RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(NOT code EQUAL 0)
      message(FATAL_ERROR "search failed (${code}):\n${out}\n${err}")
    endif()
    if(NOT out MATCHES "rank +strategy +architecture +lr +batch +momentum +wd +dropout +augment +val acc")
      message(FATAL_ERROR "search printed no table:\n${out}")
    endif()
    file(READ ${WORK}/search.png signature LIMIT 8 HEX)
    if(NOT signature STREQUAL "89504e470d0a1a0a")
      message(FATAL_ERROR "search.png does not start with the PNG signature (${signature})")
    endif()

    file(READ ${WORK}/trials.json trials)
    string(JSON count LENGTH "${trials}" trials)
    if(NOT count EQUAL 4)
      message(FATAL_ERROR "trials.json holds ${count} trials, not 2 random + 2 architecture")
    endif()
    set(previous 2)
    set(architectures "")
    foreach(row RANGE 3)
      string(JSON rank GET "${trials}" trials ${row} rank)
      string(JSON strategy GET "${trials}" trials ${row} strategy)
      string(JSON architecture GET "${trials}" trials ${row} architecture)
      string(JSON accuracy GET "${trials}" trials ${row} validation_accuracy)
      string(JSON rate GET "${trials}" trials ${row} configuration learning_rate)
      string(JSON batch GET "${trials}" trials ${row} configuration batch_size)
      string(JSON momentum GET "${trials}" trials ${row} configuration momentum)
      string(JSON decay GET "${trials}" trials ${row} configuration weight_decay)
      string(JSON dropout GET "${trials}" trials ${row} configuration dropout)
      string(JSON strength GET "${trials}" trials ${row} configuration augmentation)
      math(EXPR expected_rank "${row} + 1")
      if(NOT rank EQUAL expected_rank OR accuracy GREATER previous OR accuracy LESS 0)
        message(FATAL_ERROR "trial at rank ${rank} (row ${row}): validation accuracy ${accuracy} after ${previous}: "
                            "not ranked best first")
      endif()
      set(previous ${accuracy})
      # The space of examples/search.cpp: learning rate in [0.005, 0.3], batch one of 32..256,
      # momentum in [0.5, 0.95], weight decay in [1e-6, 1e-2], augmentation in [0, 1.5].
      if(rate LESS 0.005 OR rate GREATER 0.3 OR NOT batch MATCHES "^(32|64|128|256)(\\.0)?$" OR momentum LESS 0.5
         OR momentum GREATER 0.95 OR decay LESS 0.000001 OR decay GREATER 0.01 OR strength LESS 0
         OR strength GREATER 1.5)
        message(FATAL_ERROR "trial at rank ${rank} lies outside the search space: lr ${rate}, batch ${batch}, "
                            "momentum ${momentum}, weight decay ${decay}, augmentation ${strength}")
      endif()
      if(strategy STREQUAL "random")
        if(NOT ((dropout EQUAL 0 AND architecture STREQUAL "lenet5")
                OR (dropout EQUAL 0.25 AND architecture STREQUAL "lenet5+dropout0.25")
                OR (dropout EQUAL 0.5 AND architecture STREQUAL "lenet5+dropout0.5")))
          message(FATAL_ERROR "random trial with dropout ${dropout} trained ${architecture}")
        endif()
      elseif(strategy STREQUAL "architecture")
        list(APPEND architectures ${architecture})
      else()
        message(FATAL_ERROR "unexpected strategy ${strategy}")
      endif()
    endforeach()
    list(SORT architectures)
    if(NOT architectures STREQUAL "small;wide")
      message(FATAL_ERROR "the architecture trials trained ${architectures}, not small and wide")
    endif()

    file(STRINGS ${WORK}/trials.csv rows)
    list(LENGTH rows lines)
    list(GET rows 0 header)
    if(NOT lines EQUAL 5 OR NOT header MATCHES "^rank,id,strategy,architecture,learning_rate,")
      message(FATAL_ERROR "trials.csv: ${lines} lines, header ${header}")
    endif()

    file(READ ${WORK}/best.json best)
    string(JSON best_rank GET "${best}" trial rank)
    string(JSON best_id GET "${best}" trial id)
    string(JSON first_id GET "${trials}" trials 0 id)
    string(JSON test GET "${best}" final test_accuracy)
    string(JSON images GET "${best}" final train_images)
    if(NOT best_rank EQUAL 1 OR NOT best_id EQUAL first_id OR NOT images EQUAL 1000 OR NOT test GREATER 0.2
       OR test GREATER 1)
      message(FATAL_ERROR "implausible best.json: rank ${best_rank}, id ${best_id} (first ranked ${first_id}), "
                          "${images} training images, test accuracy ${test}")
    endif()
    if(NOT EXISTS ${WORK}/model.safetensors OR NOT EXISTS ${WORK}/log.csv)
      message(FATAL_ERROR "the retrained model or its log is missing")
    endif()
    return()
  endif()

  # CHECK "bad": MNIST files that are not MNIST, in the --data folder (searched first), give exit
  # status 1, one line "search: ...", and no results.
  file(WRITE ${WORK}/data/mnist/train-images-idx3-ubyte "these are not images\n")
  file(WRITE ${WORK}/data/mnist/train-labels-idx1-ubyte "nor labels\n")
  execute_process(COMMAND ${PROGRAM} --data ${WORK}/data --trials 1 --output ${WORK}/results RESULT_VARIABLE code
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REGEX MATCHALL "\n" newlines "${err}")
  list(LENGTH newlines lines)
  if(NOT code EQUAL 1 OR NOT lines EQUAL 1 OR NOT err MATCHES "^search: .*${WORK}/data/mnist/train-")
    message(FATAL_ERROR "expected exit status 1 and one line \"search: ...\" naming the bad file, got status ${code} "
                        "and:\n${err}")
  endif()
  if(EXISTS ${WORK}/results/trials.json)
    message(FATAL_ERROR "bad data: trials.json was written")
  endif()
  return()
endif()

set(search_check -DPROGRAM=$<TARGET_FILE:search> -DSOURCE_DIR=${PROJECT_SOURCE_DIR})
add_test(NAME programs.search_run
         COMMAND ${CMAKE_COMMAND} ${search_check} -DCHECK=run -DWORK=${CMAKE_CURRENT_BINARY_DIR}/search_run
                 -P ${CMAKE_CURRENT_LIST_FILE})
add_test(NAME programs.search_bad_data
         COMMAND ${CMAKE_COMMAND} ${search_check} -DCHECK=bad -DWORK=${CMAKE_CURRENT_BINARY_DIR}/search_bad
                 -P ${CMAKE_CURRENT_LIST_FILE})
set_tests_properties(programs.search_run PROPERTIES TIMEOUT 300)
add_test(NAME programs.search_help COMMAND search --help)
set_tests_properties(programs.search_help PROPERTIES PASS_REGULAR_EXPRESSION "--train-limit")
