# What the program tests share. Kept out of tests/programs/ itself, whose *.cmake files are each
# included as one program's tests.
include_guard(GLOBAL)

# For a program test's script mode (cmake -D PROGRAM=... -D ARGS=... -P <program>.cmake): runs
# PROGRAM with ARGS ('|' separates them) and then this macro's own arguments, and sets `arguments`,
# `expected` (EXPECT split at '|'), `status`, `out`, `err` and `ran` (all of it, for messages).
# A crash (a status that is not a number) is a failure at once.
macro(run_program_to_check)
  string(REPLACE "|" ";" arguments "${ARGS}")
  string(REPLACE "|" ";" expected "${EXPECT}")
  list(APPEND arguments ${ARGN})
  execute_process(COMMAND ${PROGRAM} ${arguments} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(ran "${PROGRAM} ${arguments}\nexit status: ${status}\nstdout:\n${out}\nstderr:\n${err}")
  if(NOT status MATCHES "^[0-9]+$")
    message(FATAL_ERROR "the program crashed: ${ran}")
  endif()
endmacro()

# Adds a test programs.<PROGRAM>_refuses_<name> for each CASES entry "<file>|<text>": PROGRAM,
# run with --model MODEL on FOLDER/<file>, must exit non-zero with one line on stderr holding
# "<PROGRAM>: FOLDER/<file>: " and <text>. The calling file's one_line_error mode (run with -P)
# does the checking, and each test requires the fixture FIXTURE.
function(add_bad_input_tests)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "PROGRAM;MODEL;FOLDER;FIXTURE" "CASES")
  foreach(case IN LISTS arg_CASES)
    string(REPLACE "|" ";" case "${case}")
    list(GET case 0 file)
    list(GET case 1 text)
    get_filename_component(name ${file} NAME_WE)
    add_test(NAME programs.${arg_PROGRAM}_refuses_${name}
             COMMAND ${CMAKE_COMMAND} -D CHECK=one_line_error -D PROGRAM=$<TARGET_FILE:${arg_PROGRAM}>
                     "-D ARGS=--model|${arg_MODEL}|${arg_FOLDER}/${file}"
                     "-D EXPECT=${arg_PROGRAM}: ${arg_FOLDER}/${file}: |${text}" -P ${CMAKE_CURRENT_LIST_FILE})
    set_tests_properties(programs.${arg_PROGRAM}_refuses_${name} PROPERTIES FIXTURES_REQUIRED ${arg_FIXTURE})
  endforeach()
endfunction()
